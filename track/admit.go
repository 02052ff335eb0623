package track

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// authBatcher checks terminals' auth codes in batches: every
// authentication that arrives while one batch is in the database waits for
// the next, and a batch is one statement and one commit however many
// terminals it holds. When a network recovers or fleetd restarts, thousands
// of terminals authenticate at once; one round trip and one commit each
// queued their reports behind the handshakes. Nothing is cached: each
// answer is the database's at the time of its batch, so a revoked or
// unregistered terminal is refused from the next batch on.
type authBatcher struct {
	pool    *pgxpool.Pool
	timeout time.Duration // bounds one batch's statement

	mu      sync.Mutex
	queue   []*authRequest
	running bool
}

// maxAuthBatch bounds the terminals of one batch.
const maxAuthBatch = 2000

type authRequest struct {
	a    Authentication
	term Terminal
	ok   bool
	err  error
	done chan struct{}
}

// newAuthBatcher returns an authenticator on pool.
func newAuthBatcher(pool *pgxpool.Pool) *authBatcher {
	return &authBatcher{pool: pool, timeout: 5 * time.Second}
}

// authenticate queues a and waits for the batch that holds it.
func (b *authBatcher) authenticate(ctx context.Context, a Authentication) (Terminal, bool, error) {
	r := &authRequest{a: a, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.run()
	}
	select {
	case <-r.done:
		return r.term, r.ok, r.err
	case <-ctx.Done():
		return Terminal{}, false, fmt.Errorf("authenticate terminal %s: %w", a.Phone, ctx.Err())
	}
}

// run authenticates batches until none are waiting.
func (b *authBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxAuthBatch)
		if n == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		batch := make([]*authRequest, n)
		copy(batch, b.queue)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()
		errs := make([]error, len(batch))
		err := b.check(batch)
		if isDeadlock(err) {
			// Another transaction updating terminals (the writer's
			// last_seen_at) locked the same rows in another order: once more.
			err = b.check(batch)
		}
		if isRejection(err) && len(batch) > 1 {
			// One terminal's data the database refuses (a version or IMEI
			// it cannot store) must not refuse the others: each alone.
			for i, r := range batch {
				errs[i] = b.check([]*authRequest{r})
			}
		} else {
			for i := range errs {
				errs[i] = err
			}
		}
		for i, r := range batch {
			if errs[i] != nil {
				r.term, r.ok, r.err = Terminal{}, false, fmt.Errorf("authenticate terminal %s: %w", r.a.Phone, errs[i])
			}
			close(r.done)
		}
	}
}

// authenticateBatch checks every code of the batch and stamps the terminals
// that matched, in one statement. Rows are locked in id order, as the
// writer's last_seen_at update does.
const authenticateBatch = `
WITH u AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::text[])
    AS u(phone, code, version, imei, software_version)
), l AS (
    SELECT t.id, u.version, u.imei, u.software_version
    FROM terminals t JOIN u ON t.phone = u.phone AND t.auth_code = u.code
    WHERE t.vehicle_id IS NOT NULL AND t.auth_code <> ''
    ORDER BY t.id
    FOR UPDATE OF t
)
UPDATE terminals t SET authenticated_at = now(), protocol_version = COALESCE(l.version, t.protocol_version),
    imei = COALESCE(NULLIF(l.imei, ''), t.imei),
    software_version = COALESCE(NULLIF(l.software_version, ''), t.software_version)
FROM l WHERE t.id = l.id
RETURNING t.id, t.phone, t.vehicle_id, t.auth_code`

func (b *authBatcher) check(batch []*authRequest) error {
	// One row per (phone, code): a terminal authenticating twice in the
	// same batch (a reconnect racing its old connection) is one update.
	type key struct{ phone, code string }
	seen := make(map[key]bool, len(batch))
	var phones, codes, imeis, softs []string
	var versions []*int16
	for _, r := range batch {
		k := key{r.a.Phone, r.a.Code}
		if seen[k] || !storable(r.a.Code) || !storable(r.a.Phone) {
			continue // a code the database cannot hold matches no stored one
		}
		seen[k] = true
		phones, codes = append(phones, r.a.Phone), append(codes, r.a.Code)
		var v *int16
		if r.a.ProtocolVersion != 0 {
			x := int16(r.a.ProtocolVersion)
			v = &x
		}
		versions = append(versions, v)
		imeis, softs = append(imeis, r.a.IMEI), append(softs, r.a.SoftwareVersion)
	}
	for _, r := range batch {
		r.term, r.ok, r.err = Terminal{}, false, nil
	}
	if len(phones) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	rows, err := b.pool.Query(ctx, authenticateBatch, phones, codes, versions, imeis, softs)
	if err != nil {
		return err
	}
	defer rows.Close()
	matched := make(map[key]Terminal, len(phones))
	for rows.Next() {
		var t Terminal
		if err := rows.Scan(&t.ID, &t.Phone, &t.VehicleID, &t.AuthCode); err != nil {
			return err
		}
		matched[key{t.Phone, t.AuthCode}] = t
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range batch {
		if t, ok := matched[key{r.a.Phone, r.a.Code}]; ok {
			r.term, r.ok = t, true
		}
	}
	return nil
}

// storable reports whether s can be compared with a stored text: not empty,
// valid UTF-8 without NUL.
func storable(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}
