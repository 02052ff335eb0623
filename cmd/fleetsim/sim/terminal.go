package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	// one 0x0704 of type 0 (at most MaxBatch). A batch of more than SinglePackageBatch positions
	// does not fit one message body and is sent as sub-packages.
	Batch int
	// BlindBatch is the largest number of positions per 0x0704 of type 1 when positions buffered
	// during a coverage gap are uploaded; default 10, at most MaxBatch (sub-packaged above
	// SinglePackageBatch, as Batch).
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
	// KeepFixes makes every report remember the Fix of each of its positions and hand them to
	// OnAck (Ack.Fixes), so that a load test can check row by row what was acknowledged.
	KeepFixes bool
	// ReportInterval is the terminal's default reporting interval (parameter 0x0029) until the
	// platform sets another; default DefaultReportInterval. Drive follows it.
	ReportInterval time.Duration
	// Dial, if set, opens the connection instead of TCP: a test gives a connection over another
	// transport (MQTT topics), carrying the same frames.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// OnMessage, if set, is called from the reader goroutine with every frame the platform sends.
	// body is valid only during the call. It must not block.
	OnMessage func(h *jt808.Header, body []byte)
}

// Ack describes the platform's answer to one report.
type Ack struct {
	ID jt808.MsgID // 0x0200 or 0x0704
	// Serial is the report's serial number; for a sub-packaged report, its first package's.
	Serial uint16
	// Packages is the number of sub-packages of the report; 1 for a report in one frame.
	Packages  int
	Result    uint8 // 0 success; see jt808.PlatformReply
	Positions int
	Resends   int
	// Latency runs from the first sending of the report to the reply.
	Latency time.Duration
	// Fixes are the report's positions as sent, with Config.KeepFixes; valid only during
	// the call.
	Fixes []Fix
}

// Sizes of a Terminal's 0x0704 body: a 3-byte head (数据项个数 WORD, 位置数据类型 BYTE), then
// per position a 2-byte length and a 0x0200 body of 28 bytes (位置基本信息) plus the four
// additional items every Terminal sends (mileage 2+4, fuel 2+2, signal 2+1, satellites 2+1 =
// 16 bytes): 46 bytes.
const (
	batchHeadLen = 3
	batchItemLen = 2 + 28 + 16
)

// SinglePackageBatch is the largest 0x0704 batch that fits one message body (at most
// jt808.MaxBodyLen = 1023 bytes, the 10 bits of 消息体属性): (1023 - 3) / 46 = 22. A larger batch
// is sent as sub-packages (JT/T 808-2019 §4.4.3 消息包封装项).
const SinglePackageBatch = (jt808.MaxBodyLen - batchHeadLen) / batchItemLen

// MaxBatch is the largest number of positions a Terminal puts in one 0x0704: 200 positions are
// 9203 body bytes, sent as 9 sub-packages.
const MaxBatch = 200

// maxPackages is the most sub-packages of one report: the bits of pendingMsg.acked.
const maxPackages = 64

// A MaxBatch batch must fit maxPackages packages; the constant below overflows (and the build
// fails) if it does not.
const _ = uint(maxPackages - (batchHeadLen+MaxBatch*batchItemLen+jt808.MaxBodyLen-1)/jt808.MaxBodyLen)

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
//
// A report whose body exceeds jt808.MaxBodyLen (a 0x0704 of more than SinglePackageBatch
// positions) is encoded once and cut into sub-packages of at most jt808.MaxBodyLen body bytes
// with consecutive serials (JT/T 808-2019 §4.4.3). The platform answers each package with
// 0x8001 and answers the package that completes the message once the message is stored, so
// the report counts as acknowledged when every package has been answered with result 0: the
// last of those answers is the platform's answer to the whole message. In order that is the
// last package's answer; after a 0x8003 (补传分包请求) it is the answer to the resent package
// that completed the message, while the last package's answer only confirmed its receipt. A
// timeout resends all packages with their serials, and the answers are counted afresh. A
// platform that answers only once per sub-packaged message (2013 §7.12 allows it) leaves such
// reports unacknowledged.
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
	fixes    []Fix  // scratch: the fixes of the report being sent, with KeepFixes
	ctl      []byte // scratch frame for control messages
	loc      jt808.Location
	batch    jt808.BatchLocation
	queue    []Point // positions waiting to fill a 0x0704 of type 0
	blind    []Point // positions taken out of coverage
	covered  bool
	lastSent time.Time

	serial atomic.Uint32 // next serial number (low 16 bits); the reader uses it too
	wmu    sync.Mutex    // serialises writes to conn between owner and reader

	mu      sync.Mutex // guards the fields below, shared with the reader
	pending map[uint16]pendingMsg
	// parts maps the serial of package 2..n of a pending sub-packaged report to the report's
	// key in pending (the serial of its first package).
	parts    map[uint16]uint16
	free     [][]byte // frame buffers of acknowledged reports, for reuse
	readErr  error
	lastFix  Point // for 0x8201 location queries
	replies  chan reply
	ackEvent chan struct{}

	// The platform's commands (commands.go), guarded by mu.
	params     map[uint32][]byte // 终端参数 by ID
	trackEvery time.Duration     // 0x8202 临时位置跟踪 interval, until trackUntil
	trackFrom  time.Time
	trackUntil time.Time
	texts      []string
	paramEvent chan struct{} // the reporting interval may have changed
}

// pendingMsg is a report sent and not yet answered.
type pendingMsg struct {
	id        jt808.MsgID
	positions int
	first     time.Time // first sending
	due       time.Time // next resend; zero once MaxResends is reached
	resends   int
	// frame is the wire frame, or the frames of all packages back to back; owned by the
	// pending table until answered.
	frame []byte
	// pkgs is the number of sub-packages in frame; 0 for a report in one frame.
	pkgs int
	// acked has bit i set once package i+1 is answered with result 0 since the report was
	// last sent whole (or package i+1 last sent again on request).
	acked uint64
	// fixes are the positions' fixes, with Config.KeepFixes.
	fixes []Fix
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
		cfg:        cfg,
		phone:      phone,
		m:          cfg.Metrics,
		log:        cfg.Logger.With("phone", cfg.Phone),
		covered:    true,
		pending:    make(map[uint16]pendingMsg),
		parts:      make(map[uint16]uint16),
		replies:    make(chan reply, 8),
		ackEvent:   make(chan struct{}, 1),
		paramEvent: make(chan struct{}, 1),
	}
	t.params = t.initParams()
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
	var conn net.Conn
	var err error
	if t.cfg.Dial != nil {
		conn, err = t.cfg.Dial(ctx, addr)
	} else {
		d := net.Dialer{Timeout: t.cfg.DialTimeout}
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
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
		p.acked = 0 // a new connection starts the platform's reassembly afresh
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

func (t *Terminal) nextSerial() uint16 { return t.nextSerials(1) }

// nextSerials reserves n consecutive serial numbers (the packages of one message) and returns
// the first; the reader's serials never come between them.
func (t *Terminal) nextSerials(n int) uint16 { return uint16(t.serial.Add(uint32(n)) - uint32(n)) }

// header returns the header of one message from this terminal.
func (t *Terminal) header(id jt808.MsgID, serial uint16) jt808.Header {
	h := jt808.Header{ID: id, Version: t.cfg.Version, Phone: t.phone, Serial: serial}
	if t.cfg.Version == jt808.Version2019 {
		h.ProtoVer = 1 // JT/T 808-2019 表 2: 协议版本号, 1 for the first 2019 revision
	}
	return h
}

// appendFrame appends the wire frame of one message from this terminal.
func (t *Terminal) appendFrame(dst []byte, id jt808.MsgID, serial uint16, body []byte) []byte {
	h := t.header(id, serial)
	return jt808.AppendFrame(dst, &h, body)
}

// appendPackages appends the frames of body cut into pkgs sub-packages of at most
// jt808.MaxBodyLen bytes, back to back, with serials first, first+1, ... (JT/T 808-2019 §4.4.3:
// 消息总包数 pkgs, 包序号 from 1).
func (t *Terminal) appendPackages(dst []byte, id jt808.MsgID, first uint16, pkgs int, body []byte) []byte {
	h := t.header(id, first)
	h.Fragmented, h.PkgTotal = true, uint16(pkgs)
	for i := range pkgs {
		h.Serial, h.PkgIndex = first+uint16(i), uint16(i+1)
		part := body[i*jt808.MaxBodyLen : min((i+1)*jt808.MaxBodyLen, len(body))]
		dst = jt808.AppendFrame(dst, &h, part)
	}
	return dst
}

// nthFrame returns frame i (0-based) of frames, wire frames back to back, or nil if there are
// fewer. Each frame is 0x7e, escaped bytes without 0x7e, 0x7e, so it is found by counting
// delimiters. The result aliases frames.
func nthFrame(frames []byte, i int) []byte {
	for len(frames) > 1 {
		end := bytes.IndexByte(frames[1:], 0x7e) + 2
		if end < 2 {
			return nil
		}
		if i == 0 {
			return frames[:end]
		}
		frames, i = frames[end:], i-1
	}
	return nil
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
