package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fleetmon/ingest/jt808"
)

// Config describes one simulated terminal. Zero fields take the documented defaults.
type Config struct {
	// Phone is the terminal phone number (digits), its identity in JT/T 808. Required.
	Phone string
	// Version is the protocol version: jt808.Version2013 or jt808.Version2019.
	Version jt808.Version
	// Plate and PlateColor (JT/T 415: 1 blue, 2 yellow) are sent in the registration.
	Plate      string
	PlateColor uint8
	// Province and City are the GB/T 2260 codes sent in the registration; default 42 (湖北省)
	// and 200 (黄石市, 420200).
	Province, City uint16
	// Maker, Model and TerminalID are sent in the registration; defaults "FLTSM", "FS-808" and
	// the last 7 digits of the phone.
	Maker, Model, TerminalID string
	// IMEI (15 digits) and SoftwareVersion are sent in the 2019 authentication; defaults are
	// derived from the phone and "fleetsim-1".
	IMEI, SoftwareVersion string

	// ReplyTimeout bounds the wait for the reply to a registration, authentication, heartbeat or
	// logout; default 10 s.
	ReplyTimeout time.Duration
	// AckTimeout is how long a report waits for its 0x8001 before it is resent; the n-th resend
	// waits AckTimeout × (n+1), as JT/T 808-2019 §4.4.4 prescribes for TCP. Default 10 s (the
	// standard's default for parameter 0x0002).
	AckTimeout time.Duration
	// MaxResends is how many times a report is resent; after that it stays pending (and counts
	// as unacknowledged). Default 3 (the standard's default for parameter 0x0003). Negative
	// means never resend.
	MaxResends int
	// Batch: 0 sends each position as a 0x0200; N > 0 collects N positions and sends them as
	// one 0x0704 of type 0 (at most MaxBatch).
	Batch int
	// BlindBatch is the largest number of positions per 0x0704 of type 1 when positions buffered
	// during a coverage gap are uploaded; default 10, at most MaxBatch.
	BlindBatch int
	// BlindCap is the most positions kept out of coverage; beyond it the oldest tenth is
	// dropped (and counted). Default 10000, a day of reports every 10 s.
	BlindCap int
	// DialTimeout bounds Connect's dial; default 10 s.
	DialTimeout time.Duration

	// Metrics receives the counters; default a new Metrics per terminal. Share one between
	// terminals to add them up.
	Metrics *Metrics
	// Logger receives connection events at debug level; default discards.
	Logger *slog.Logger
	// OnAck, if set, is called from the reader goroutine for every report the platform answers
	// (acknowledged or rejected). It must not block.
	OnAck func(Ack)
	// OnMessage, if set, is called from the reader goroutine with every frame the platform sends.
	// body is valid only during the call. It must not block.
	OnMessage func(h *jt808.Header, body []byte)
}

// Ack describes the platform's answer to one report.
type Ack struct {
	ID        jt808.MsgID // 0x0200 or 0x0704
	Serial    uint16
	Result    uint8 // 0 success; see jt808.PlatformReply
	Positions int
	Resends   int
	// Latency runs from the first sending of the report to the reply.
	Latency time.Duration
}

// MaxBatch is the largest number of positions a Terminal puts in one 0x0704. Each position of a
// Terminal is 28 bytes plus four additional items (16 bytes) plus its 2-byte length: 46 bytes,
// and a message body without sub-packages is at most 1023 bytes (10 bits of body properties):
// (1023 - 3) / 46 = 22.
const MaxBatch = 22

var (
	// ErrNotConnected is returned when a message is sent with no live connection.
	ErrNotConnected = errors.New("sim: not connected")
	// ErrReplyTimeout is returned when the platform does not answer in Config.ReplyTimeout.
	ErrReplyTimeout = errors.New("sim: no reply from platform")
)

// RegisterError is returned when the platform answers 0x0100 with a non-zero result in 0x8100
// (1 vehicle already registered, 2 no such vehicle, 3 terminal already registered, 4 no such
// terminal).
type RegisterError struct{ Result uint8 }

func (e *RegisterError) Error() string {
	names := map[uint8]string{1: "vehicle already registered", 2: "no such vehicle",
		3: "terminal already registered", 4: "no such terminal"}
	if n, ok := names[e.Result]; ok {
		return fmt.Sprintf("sim: register rejected: result %d (%s)", e.Result, n)
	}
	return fmt.Sprintf("sim: register rejected: result %d", e.Result)
}

// ReplyError is returned when the platform answers a message with 0x8001 and a non-zero result
// (1 failure, 2 bad message, 3 unsupported, 4 alarm confirmed).
type ReplyError struct {
	ID     jt808.MsgID
	Result uint8
}

func (e *ReplyError) Error() string {
	return fmt.Sprintf("sim: platform answered %s with result %d", e.ID, e.Result)
}

// Terminal is one simulated JT/T 808 terminal. Its methods must be called from a single
// goroutine (the owner); Stats, Pending and Metrics are safe from any goroutine. While
// connected, a reader goroutine decodes the platform's frames, matches replies to pending
// messages and answers platform requests with 0x0001.
//
// Reports (0x0200, 0x0704) are asynchronous: Report returns once the frame is written, and the
// platform's 0x8001 is matched by serial number and message id later. Registration,
// authentication, heartbeats and logout wait for their reply.
type Terminal struct {
	cfg   Config
	phone jt808.Phone
	m     *Metrics
	log   *slog.Logger

	// Owned by the owner goroutine.
	authCode string
	conn     net.Conn
	stop     func() bool // stops the AfterFunc that closes conn when the Connect ctx ends
	done     chan struct{}
	body     []byte // scratch message body
	ctl      []byte // scratch frame for control messages
	loc      jt808.Location
	batch    jt808.BatchLocation
	queue    []Point // positions waiting to fill a 0x0704 of type 0
	blind    []Point // positions taken out of coverage
	covered  bool
	lastSent time.Time

	serial atomic.Uint32 // next serial number (low 16 bits); the reader uses it too
	wmu    sync.Mutex    // serialises writes to conn between owner and reader

	mu       sync.Mutex // guards the fields below, shared with the reader
	pending  map[uint16]pendingMsg
	free     [][]byte // frame buffers of acknowledged reports, for reuse
	readErr  error
	lastFix  Point // for 0x8201 location queries
	replies  chan reply
	ackEvent chan struct{}
}

// pendingMsg is a report sent and not yet answered.
type pendingMsg struct {
	id        jt808.MsgID
	positions int
	first     time.Time // first sending
	due       time.Time // next resend; zero once MaxResends is reached
	resends   int
	frame     []byte // the wire frame, owned by the pending table until answered
}

// reply is a platform answer to a control message, handed from the reader to the owner.
type reply struct {
	id       jt808.MsgID // the message answered
	serial   uint16
	result   uint8
	authCode string
}

// NewTerminal returns a disconnected terminal in coverage.
func NewTerminal(cfg Config) (*Terminal, error) {
	phone, err := jt808.ParsePhone(cfg.Phone, cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("sim: phone %q: %w", cfg.Phone, err)
	}
	if cfg.Province == 0 && cfg.City == 0 {
		cfg.Province, cfg.City = 42, 200
	}
	if cfg.Maker == "" {
		cfg.Maker = "FLTSM"
	}
	if cfg.Model == "" {
		cfg.Model = "FS-808"
	}
	if cfg.TerminalID == "" {
		cfg.TerminalID = cfg.Phone[max(0, len(cfg.Phone)-7):]
	}
	if cfg.IMEI == "" {
		// 86 is a GSMA reporting body prefix; the rest is the phone, padded to 15 digits.
		imei := "86" + strings.Repeat("0", max(0, 13-len(cfg.Phone))) + cfg.Phone
		cfg.IMEI = imei[:15]
	}
	if cfg.SoftwareVersion == "" {
		cfg.SoftwareVersion = "fleetsim-1"
	}
	if cfg.ReplyTimeout <= 0 {
		cfg.ReplyTimeout = 10 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.MaxResends == 0 {
		cfg.MaxResends = 3
	}
	cfg.Batch = min(max(cfg.Batch, 0), MaxBatch)
	if cfg.BlindBatch <= 0 {
		cfg.BlindBatch = 10
	}
	cfg.BlindBatch = min(cfg.BlindBatch, MaxBatch)
	if cfg.BlindCap <= 0 {
		cfg.BlindCap = 10000
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Terminal{
		cfg:      cfg,
		phone:    phone,
		m:        cfg.Metrics,
		log:      cfg.Logger.With("phone", cfg.Phone),
		covered:  true,
		pending:  make(map[uint16]pendingMsg),
		replies:  make(chan reply, 8),
		ackEvent: make(chan struct{}, 1),
	}
	return t, nil
}

// Phone returns the terminal's phone number as configured.
func (t *Terminal) Phone() string { return t.cfg.Phone }

// Version returns the terminal's protocol version.
func (t *Terminal) Version() jt808.Version { return t.cfg.Version }

// Metrics returns the metrics the terminal counts into.
func (t *Terminal) Metrics() *Metrics { return t.m }

// AuthCode returns the authentication code from the last successful registration ("" before).
func (t *Terminal) AuthCode() string { return t.authCode }

// SetAuthCode sets the authentication code, as a terminal that registered before would have
// it; Login then skips registration.
func (t *Terminal) SetAuthCode(code string) { t.authCode = code }

// Pending returns the number of reports sent and not yet answered by this terminal.
func (t *Terminal) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// Buffered returns the positions not yet sent: waiting for a batch to fill, or taken during a
// coverage gap. Like the other methods without a note, only the owner goroutine may call it.
func (t *Terminal) Buffered() int { return len(t.queue) + len(t.blind) }

// Connect dials addr and starts the reader. The connection is closed when ctx is done or Close
// is called. Reports still pending from an earlier connection are resent at the next
// Report, Flush or WaitAcks (after Login), as a terminal with storage does.
func (t *Terminal) Connect(ctx context.Context, addr string) error {
	if t.conn != nil {
		t.Close()
	}
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: dial %s: %w", addr, err)
	}
	t.conn = conn
	t.stop = context.AfterFunc(ctx, func() { conn.Close() })
	t.done = make(chan struct{})
	t.mu.Lock()
	t.readErr = nil
	now := time.Now()
	for s, p := range t.pending {
		p.due = now
		t.pending[s] = p
	}
	t.mu.Unlock()
	for len(t.replies) > 0 {
		<-t.replies
	}
	go t.read(conn, t.done)
	t.log.Debug("connected", "addr", addr)
	return nil
}

// Close closes the connection and waits for the reader to stop. Pending reports stay pending.
func (t *Terminal) Close() error {
	if t.conn == nil {
		return nil
	}
	t.stop()
	err := t.conn.Close()
	<-t.done
	t.conn = nil
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Done returns a channel closed when the current connection ends (nil before Connect).
func (t *Terminal) Done() <-chan struct{} { return t.done }

// Err returns why the connection's reader stopped (io.EOF when the platform closed it), or nil
// while it runs.
func (t *Terminal) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.readErr
}

// Login registers (unless the terminal has an authentication code already) and authenticates.
// If authentication with a remembered code fails, the terminal registers again once, as real
// terminals do after the platform forgot them.
func (t *Terminal) Login(ctx context.Context) error {
	retried := false
	if t.authCode == "" {
		if _, err := t.Register(ctx); err != nil {
			return err
		}
		retried = true
	}
	err := t.Authenticate(ctx)
	var re *ReplyError
	if errors.As(err, &re) && !retried {
		t.authCode = ""
		if _, err := t.Register(ctx); err != nil {
			return err
		}
		err = t.Authenticate(ctx)
	}
	return err
}

// Register sends 0x0100 in the layout of the terminal's version and waits for 0x8100. On result
// 0 it keeps and returns the authentication code; other results return a *RegisterError.
func (t *Terminal) Register(ctx context.Context) (string, error) {
	layout := jt808.Layout2013
	if t.cfg.Version == jt808.Version2019 {
		layout = jt808.Layout2019
	}
	reg := jt808.Register{
		Province:   t.cfg.Province,
		City:       t.cfg.City,
		Maker:      t.cfg.Maker,
		Model:      t.cfg.Model,
		TerminalID: t.cfg.TerminalID,
		PlateColor: t.cfg.PlateColor,
		Plate:      t.cfg.Plate,
		Layout:     layout,
	}
	t.body = reg.AppendTo(t.body[:0], t.cfg.Version)
	r, err := t.call(ctx, jt808.IDRegister, t.body)
	if err != nil {
		return "", fmt.Errorf("register: %w", err)
	}
	if r.result != 0 {
		return "", &RegisterError{Result: r.result}
	}
	t.authCode = r.authCode
	return r.authCode, nil
}

// Authenticate sends 0x0102 with the authentication code (2019: with IMEI and software
// version) and waits for 0x8001; a non-zero result returns a *ReplyError.
func (t *Terminal) Authenticate(ctx context.Context) error {
	auth := jt808.Auth{Code: t.authCode, IMEI: t.cfg.IMEI, SoftwareVersion: t.cfg.SoftwareVersion}
	t.body = auth.AppendTo(t.body[:0], t.cfg.Version)
	return t.callOK(ctx, jt808.IDAuth, t.body)
}

// Heartbeat sends 0x0002 and waits for 0x8001. Out of coverage it sends nothing.
func (t *Terminal) Heartbeat(ctx context.Context) error {
	if !t.covered {
		return nil
	}
	if err := t.resendDue(time.Now()); err != nil {
		return err
	}
	return t.callOK(ctx, jt808.IDHeartbeat, nil)
}

// Logout sends 0x0003 and waits for 0x8001. The caller then closes the connection.
func (t *Terminal) Logout(ctx context.Context) error {
	return t.callOK(ctx, jt808.IDLogout, nil)
}

// SinceLastSend returns how long ago the terminal last wrote a message (for heartbeats).
func (t *Terminal) SinceLastSend() time.Duration { return time.Since(t.lastSent) }

// callOK is call for messages answered by 0x8001.
func (t *Terminal) callOK(ctx context.Context, id jt808.MsgID, body []byte) error {
	r, err := t.call(ctx, id, body)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	if r.result != 0 {
		return &ReplyError{ID: id, Result: r.result}
	}
	return nil
}

// call sends a control message and waits for its reply.
func (t *Terminal) call(ctx context.Context, id jt808.MsgID, body []byte) (reply, error) {
	serial := t.nextSerial()
	t.ctl = t.appendFrame(t.ctl[:0], id, serial, body)
	if err := t.write(t.ctl); err != nil {
		return reply{}, err
	}
	t.m.control.Add(1)
	timer := time.NewTimer(t.cfg.ReplyTimeout)
	defer timer.Stop()
	for {
		select {
		case r := <-t.replies:
			if r.serial == serial && r.id == id {
				return r, nil
			}
		case <-t.done:
			return reply{}, t.connErr()
		case <-timer.C:
			return reply{}, ErrReplyTimeout
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// connErr returns the error that ended the connection.
func (t *Terminal) connErr() error {
	if err := t.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return ErrNotConnected
}

func (t *Terminal) nextSerial() uint16 { return uint16(t.serial.Add(1) - 1) }

// appendFrame appends the wire frame of one message from this terminal.
func (t *Terminal) appendFrame(dst []byte, id jt808.MsgID, serial uint16, body []byte) []byte {
	h := jt808.Header{ID: id, Version: t.cfg.Version, Phone: t.phone, Serial: serial}
	if t.cfg.Version == jt808.Version2019 {
		h.ProtoVer = 1 // JT/T 808-2019 表 2: 协议版本号, 1 for the first 2019 revision
	}
	return jt808.AppendFrame(dst, &h, body)
}

// write writes one frame.
func (t *Terminal) write(frame []byte) error {
	if t.conn == nil {
		return ErrNotConnected
	}
	select {
	case <-t.done:
		return t.connErr()
	default:
	}
	t.wmu.Lock()
	_, err := t.conn.Write(frame)
	t.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("sim: write: %w", err)
	}
	t.lastSent = time.Now()
	return nil
}

// SetCoverage switches the simulated mobile coverage. Out of coverage, Report keeps positions
// (as terminals keep them in storage) and heartbeats are not sent; the connection stays open.
// When coverage returns, the kept positions are uploaded as 0x0704 of type 1 (blind-zone
// back-fill) in batches of up to Config.BlindBatch.
func (t *Terminal) SetCoverage(covered bool) error {
	t.covered = covered
	if !covered {
		return nil
	}
	return t.flushBlind()
}

// Covered reports whether the terminal is in coverage.
func (t *Terminal) Covered() bool { return t.covered }

func (t *Terminal) flushBlind() error {
	for len(t.blind) > 0 {
		n := min(len(t.blind), t.cfg.BlindBatch)
		if err := t.SendBatch(1, t.blind[:n]); err != nil {
			return err
		}
		t.blind = t.blind[n:]
	}
	t.blind = t.blind[:0:cap(t.blind)]
	return nil
}

// Report hands the terminal a new position. In coverage it resends overdue reports, then sends
// the position as a 0x0200, or adds it to the current 0x0704 batch when Config.Batch > 0 (sent
// when full). Out of coverage it keeps the position for the back-fill.
func (t *Terminal) Report(p Point) error {
	t.mu.Lock()
	t.lastFix = p
	t.mu.Unlock()
	if !t.covered {
		if len(t.blind) >= t.cfg.BlindCap {
			drop := max(1, len(t.blind)/10)
			t.blind = append(t.blind[:0], t.blind[drop:]...)
			t.m.blindDrop.Add(int64(drop))
		}
		t.blind = append(t.blind, p)
		return nil
	}
	if err := t.resendDue(time.Now()); err != nil {
		return err
	}
	if t.cfg.Batch == 0 {
		return t.SendLocation(p)
	}
	t.queue = append(t.queue, p)
	if len(t.queue) < t.cfg.Batch {
		return nil
	}
	err := t.SendBatch(0, t.queue)
	t.queue = t.queue[:0]
	return err
}

// Flush sends a partly filled 0x0704 batch, and the blind-zone positions if in coverage.
func (t *Terminal) Flush() error {
	if !t.covered {
		return nil
	}
	if len(t.queue) > 0 {
		err := t.SendBatch(0, t.queue)
		t.queue = t.queue[:0]
		if err != nil {
			return err
		}
	}
	return t.flushBlind()
}

// SendLocation sends p as one 0x0200 now, whatever the coverage and batching.
func (t *Terminal) SendLocation(p Point) error {
	locationOf(&p, &t.loc)
	t.body = t.loc.AppendTo(t.body[:0], t.cfg.Version)
	return t.sendReport(jt808.IDLocation, 1)
}

// SendBatch sends pts (at most MaxBatch) as one 0x0704 of the given type (0 normal, 1 blind-zone
// back-fill) now, whatever the coverage.
func (t *Terminal) SendBatch(typ uint8, pts []Point) error {
	if len(pts) == 0 {
		return nil
	}
	if len(pts) > MaxBatch {
		return fmt.Errorf("sim: batch of %d positions exceeds %d", len(pts), MaxBatch)
	}
	t.batch.Type = typ
	if cap(t.batch.Items) < len(pts) {
		t.batch.Items = make([]jt808.Location, len(pts), MaxBatch)
	}
	t.batch.Items = t.batch.Items[:len(pts)]
	for i := range pts {
		locationOf(&pts[i], &t.batch.Items[i])
	}
	t.body = t.batch.AppendTo(t.body[:0], t.cfg.Version)
	return t.sendReport(jt808.IDBatchLocation, len(pts))
}

// sendReport frames t.body as a report, records it as pending and writes it.
func (t *Terminal) sendReport(id jt808.MsgID, positions int) error {
	if t.conn == nil {
		return ErrNotConnected
	}
	serial := t.nextSerial()
	t.mu.Lock()
	var buf []byte
	if n := len(t.free); n > 0 {
		buf, t.free = t.free[n-1][:0], t.free[:n-1]
	}
	t.mu.Unlock()
	frame := t.appendFrame(buf, id, serial, t.body)
	now := time.Now()
	t.mu.Lock()
	t.pending[serial] = pendingMsg{id: id, positions: positions, first: now, due: now.Add(t.cfg.AckTimeout), frame: frame}
	t.mu.Unlock()
	t.m.onSend(positions)
	return t.write(frame)
}

// resendDue resends the reports whose acknowledgement is overdue.
func (t *Terminal) resendDue(now time.Time) error {
	if t.cfg.MaxResends < 0 {
		return nil
	}
	var due []uint16
	t.mu.Lock()
	for s, p := range t.pending {
		if !p.due.IsZero() && !now.Before(p.due) {
			due = append(due, s)
		}
	}
	t.mu.Unlock()
	for _, s := range due {
		t.mu.Lock()
		p, ok := t.pending[s]
		if !ok {
			t.mu.Unlock()
			continue
		}
		p.resends++
		if p.resends >= t.cfg.MaxResends {
			p.due = time.Time{}
		} else {
			p.due = now.Add(t.cfg.AckTimeout * time.Duration(p.resends+1))
		}
		t.pending[s] = p
		frame := p.frame
		t.mu.Unlock()
		t.m.resent.Add(1)
		if err := t.write(frame); err != nil {
			return err
		}
	}
	return nil
}

// WaitAcks flushes buffered positions (in coverage) and waits until every report sent has been
// answered, resending overdue ones. It returns ctx's error if ctx ends first, and a connection
// error if the connection ends.
func (t *Terminal) WaitAcks(ctx context.Context) error {
	if err := t.Flush(); err != nil {
		return err
	}
	// Resends are checked at least this often while waiting.
	const poll = 100 * time.Millisecond
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		if err := t.resendDue(time.Now()); err != nil {
			return err
		}
		if t.Pending() == 0 {
			return nil
		}
		if t.conn == nil {
			return ErrNotConnected
		}
		timer.Reset(poll)
		select {
		case <-t.ackEvent:
		case <-timer.C:
		case <-t.done:
			if t.Pending() == 0 {
				return nil
			}
			return t.connErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Play reports every position of src, pausing every between two (0: no pause), until src is
// exhausted, then waits for the acknowledgements (WaitAcks). It returns the number of positions
// reported. It is meant for tests that drive a server along a Script.
func (t *Terminal) Play(ctx context.Context, src Source, every time.Duration) (int, error) {
	n := 0
	for {
		p, ok := src.Next(time.Now())
		if !ok {
			break
		}
		if n > 0 && every > 0 {
			timer := time.NewTimer(every)
			select {
			case <-ctx.Done():
				timer.Stop()
				return n, ctx.Err()
			case <-timer.C:
			}
		}
		if err := t.Report(p); err != nil {
			return n, err
		}
		n++
	}
	return n, t.WaitAcks(ctx)
}

// Stats returns the terminal's own counters when it has its own Metrics; with shared Metrics it
// returns the shared totals.
func (t *Terminal) Stats() Snapshot { return t.m.Snapshot() }

// read runs in its own goroutine for one connection: it splits and parses the platform's
// frames, matches replies and answers requests, until the connection ends.
func (t *Terminal) read(conn net.Conn, done chan struct{}) {
	defer close(done)
	sp := jt808.NewSplitter(conn, 0)
	var (
		f     jt808.Frame
		pr    jt808.PlatformReply
		rr    jt808.RegisterReply
		out   []byte
		body  []byte
		qr    jt808.QueryLocationReply
		err   error
		frame []byte
	)
	for {
		frame, err = sp.Next()
		if err != nil {
			// The splitter resynchronises on the next 0x7e after both.
			if errors.Is(err, jt808.ErrBadEscape) || errors.Is(err, jt808.ErrFrameTooLarge) {
				continue
			}
			break
		}
		if err := jt808.ParseFrame(frame, &f); err != nil {
			t.log.Debug("bad frame from platform", "err", err)
			continue
		}
		if t.cfg.OnMessage != nil {
			t.cfg.OnMessage(&f.Header, f.Body)
		}
		switch f.Header.ID {
		case jt808.IDPlatformReply:
			if err := pr.Decode(f.Body, &f.Header); err != nil {
				t.log.Debug("bad 0x8001", "err", err)
				continue
			}
			t.onReply(pr.ReplySerial, pr.ReplyID, pr.Result)
		case jt808.IDRegisterReply:
			if err := rr.Decode(f.Body, &f.Header); err != nil {
				t.log.Debug("bad 0x8100", "err", err)
				continue
			}
			t.deliver(reply{id: jt808.IDRegister, serial: rr.ReplySerial, result: rr.Result, authCode: rr.AuthCode})
		case jt808.IDQueryTimeReply, jt808.IDTerminalReply:
			// Replies to requests this terminal does not make.
		case jt808.IDQueryLocation:
			t.mu.Lock()
			p := t.lastFix
			t.mu.Unlock()
			locationOf(&p, &qr.Location)
			qr.ReplySerial = f.Header.Serial
			body = qr.AppendTo(body[:0], t.cfg.Version)
			out = t.appendFrame(out[:0], jt808.IDQueryLocationReply, t.nextSerial(), body)
			t.writeFromReader(conn, out)
		default:
			// JT/T 808 §8.1: the terminal answers platform requests with 0x0001.
			tr := jt808.TerminalReply{ReplySerial: f.Header.Serial, ReplyID: f.Header.ID, Result: 0}
			body = tr.AppendTo(body[:0], t.cfg.Version)
			out = t.appendFrame(out[:0], jt808.IDTerminalReply, t.nextSerial(), body)
			t.writeFromReader(conn, out)
		}
	}
	if errors.Is(err, net.ErrClosed) {
		err = io.EOF
	}
	t.mu.Lock()
	t.readErr = err
	t.mu.Unlock()
	t.log.Debug("connection ended", "err", err)
}

// writeFromReader answers a platform request. It writes from a new goroutine with a copy of the
// frame, so that the reader keeps reading replies while the owner is blocked writing (when the
// platform pushes back); platform requests are rare, so the copy does not matter.
func (t *Terminal) writeFromReader(conn net.Conn, frame []byte) {
	frame = append([]byte(nil), frame...)
	go t.writeAnswer(conn, frame)
}

func (t *Terminal) writeAnswer(conn net.Conn, frame []byte) {
	t.wmu.Lock()
	_, err := conn.Write(frame)
	t.wmu.Unlock()
	if err == nil {
		t.m.control.Add(1)
	}
}

// onReply handles a 0x8001: the answer to a pending report, or to a control message.
func (t *Terminal) onReply(serial uint16, id jt808.MsgID, result uint8) {
	now := time.Now()
	t.mu.Lock()
	p, ok := t.pending[serial]
	if !ok || p.id != id {
		t.mu.Unlock()
		t.deliver(reply{id: id, serial: serial, result: result})
		return
	}
	// Result 1 (failure) is retried like a timeout; 2 and 3 say resending will not help.
	if result == 1 {
		t.mu.Unlock()
		return
	}
	delete(t.pending, serial)
	t.free = append(t.free, p.frame)
	t.mu.Unlock()
	latency := now.Sub(p.first)
	if result == 0 {
		t.m.onAck(p.positions, now, latency)
	} else {
		t.m.onReject(p.positions)
	}
	if t.cfg.OnAck != nil {
		t.cfg.OnAck(Ack{ID: id, Serial: serial, Result: result, Positions: p.positions, Resends: p.resends, Latency: latency})
	}
	select {
	case t.ackEvent <- struct{}{}:
	default:
	}
}

// deliver hands a control reply to a waiting call; with nobody waiting it is dropped.
func (t *Terminal) deliver(r reply) {
	select {
	case t.replies <- r:
	default:
		// A stale reply (to a call that timed out) fills the channel: drop the oldest.
		select {
		case <-t.replies:
		default:
		}
		select {
		case t.replies <- r:
		default:
		}
	}
}
