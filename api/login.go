package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Logins are throttled three ways before any password is hashed, in one
// transaction under row locks, so that parallel attempts are counted one
// by one (README.md, "Login throttling"):
//   - a name from one source address backs off (throttleDelay) and is
//     locked for LockFor after LockAfter consecutive failures: only that
//     address, so an attacker cannot lock the owner out;
//   - a source address gets AddrBurst failures over every name, then one
//     more per AddrLeak (password spraying);
//   - a name gets NameBurst failures over every address, then one more per
//     NameLeak (guessing from many addresses), except from an address it
//     has logged in from within KnownFor: the owner's.
// Each attempt is counted as a failure when it is let through, and given
// back when the password proves right.

// throttleDelay is how long a name must wait, from one address, after its
// n-th consecutive failure there: nothing after the first, then 1 s, 2 s,
// 4 s, ..., and lockFor from lockAfter on.
func throttleDelay(n, lockAfter int, lockFor time.Duration) time.Duration {
	switch {
	case n >= lockAfter:
		return lockFor
	case n < 2:
		return 0
	}
	return time.Second << (n - 2)
}

// addrKey is the throttle's key for a client address: the address for
// IPv4, its /64 for IPv6, since one subscriber commonly holds a whole /64.
func addrKey(remote string) string {
	a, err := netip.ParseAddr(remote)
	if err != nil {
		return remote
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// bucket is a leaky bucket of failed logins: level as of at, leaking one
// failure per leak interval.
type bucket struct {
	level float64
	at    time.Time
}

func (b bucket) levelAt(t time.Time, leak time.Duration) float64 {
	// Nodes' clocks differ a little: a bucket written by one ahead of this
	// one has leaked nothing yet, it has not grown.
	return max(b.level-float64(max(t.Sub(b.at), 0))/float64(leak), 0)
}

// waitFor is how long until one more failure fits under burst.
func (b bucket) waitFor(t time.Time, burst int, leak time.Duration) time.Duration {
	over := b.levelAt(t, leak) + 1 - float64(burst)
	if over <= 0 {
		return 0
	}
	return time.Duration(over * float64(leak))
}

// reservation is a login attempt let through and counted as a failure
// until the password proves right.
type reservation struct {
	name, addr string
	// failures is the pair's consecutive failures, this attempt included.
	failures int
}

// errRefused ends the reservation's transaction without a change.
var errRefused = errors.New("login refused by the throttle")

// reserveLogin counts an attempt for name from addr, or returns how long
// the client must wait (nothing is counted then).
func (s *Server) reserveLogin(ctx context.Context, name, addr string, now time.Time) (reservation, time.Duration, error) {
	res := reservation{name: name, addr: addr}
	var wait time.Duration
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Rows are locked in one order, pair, name, address, by every
		// transaction here: concurrent logins never deadlock.
		var failures int
		var blocked, succeeded *time.Time
		err := tx.QueryRow(ctx, `INSERT INTO login_pairs AS p (name, addr, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (name, addr) DO UPDATE SET updated_at = p.updated_at
			RETURNING failures, blocked_until, succeeded_at`, name, addr, now).Scan(&failures, &blocked, &succeeded)
		if err != nil {
			return fmt.Errorf("lock the login throttle of %q from %s: %w", name, addr, err)
		}
		if blocked != nil && now.Before(*blocked) {
			wait = blocked.Sub(now)
			return errRefused
		}
		byName, byAddr, err := lockBuckets(ctx, tx, name, addr, now)
		if err != nil {
			return err
		}
		// An address the name has logged in from passes the buckets: it
		// is the owner's, or the password is known there already.
		if known := succeeded != nil && now.Sub(*succeeded) < s.cfg.KnownFor; !known {
			wait = max(byName.waitFor(now, s.cfg.NameBurst, s.cfg.NameLeak), byAddr.waitFor(now, s.cfg.AddrBurst, s.cfg.AddrLeak))
			if wait > 0 {
				return errRefused
			}
		}
		res.failures = failures + 1
		var until *time.Time
		if d := throttleDelay(res.failures, s.cfg.LockAfter, s.cfg.LockFor); d > 0 {
			u := now.Add(d)
			until = &u
		}
		if _, err := tx.Exec(ctx, "UPDATE login_pairs SET failures = $3, blocked_until = $4, updated_at = $5 WHERE name = $1 AND addr = $2",
			name, addr, res.failures, until, now); err != nil {
			return fmt.Errorf("count a login of %q from %s: %w", name, addr, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE login_buckets b SET level = v.level, at = $5
				FROM (VALUES ('name', $1, $3::float8), ('addr', $2, $4::float8)) v (kind, key, level) WHERE b.kind = v.kind AND b.key = v.key`,
			name, addr, byName.levelAt(now, s.cfg.NameLeak)+1, byAddr.levelAt(now, s.cfg.AddrLeak)+1, now); err != nil {
			return fmt.Errorf("count a login of %q from %s in the buckets: %w", name, addr, err)
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		return res, max(wait, time.Second), nil
	}
	return res, 0, err
}

// lockBuckets locks (creating them empty) the buckets of name and addr,
// in that order (the rows of an INSERT are taken in the order listed), and
// returns them.
func lockBuckets(ctx context.Context, tx pgx.Tx, name, addr string, now time.Time) (byName, byAddr bucket, err error) {
	rows, err := tx.Query(ctx, `INSERT INTO login_buckets AS b (kind, key, level, at) VALUES ('name', $1, 0, $3), ('addr', $2, 0, $3)
		ON CONFLICT (kind, key) DO UPDATE SET at = b.at RETURNING kind, level, at`, name, addr, now)
	if err != nil {
		return byName, byAddr, fmt.Errorf("lock the login buckets of %q and %s: %w", name, addr, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var b bucket
		if err := rows.Scan(&kind, &b.level, &b.at); err != nil {
			return byName, byAddr, fmt.Errorf("lock the login buckets of %q and %s: %w", name, addr, err)
		}
		if kind == "name" {
			byName = b
		} else {
			byAddr = b
		}
	}
	if err := rows.Err(); err != nil {
		return byName, byAddr, fmt.Errorf("lock the login buckets of %q and %s: %w", name, addr, err)
	}
	return byName, byAddr, nil
}

// release gives back what reserveLogin counted: after a right password
// (succeeded: the pair's failures end and the address becomes known), or
// for an attempt that was never checked.
func release(ctx context.Context, tx pgx.Tx, res reservation, succeeded bool, now time.Time) error {
	q := "UPDATE login_pairs SET failures = greatest(failures - 1, 0), updated_at = $3 WHERE name = $1 AND addr = $2"
	if succeeded {
		q = "UPDATE login_pairs SET failures = 0, blocked_until = NULL, succeeded_at = $3, updated_at = $3 WHERE name = $1 AND addr = $2"
	}
	if _, err := tx.Exec(ctx, q, res.name, res.addr, now); err != nil {
		return fmt.Errorf("release the login throttle of %q from %s: %w", res.name, res.addr, err)
	}
	// The name's bucket, then the address's: the order reserveLogin takes.
	for _, b := range [][2]string{{"name", res.name}, {"addr", res.addr}} {
		if _, err := tx.Exec(ctx, "UPDATE login_buckets SET level = greatest(level - 1, 0) WHERE kind = $1 AND key = $2", b[0], b[1]); err != nil {
			return fmt.Errorf("release the login bucket %s %q: %w", b[0], b[1], err)
		}
	}
	return nil
}

// pruneThrottle removes, at most once a minute, the throttle's rows that
// no longer hold anything back: pairs idle for a day (their failures
// forgiven) and not known, and drained buckets. Without it every name
// ever tried would stay.
func (s *Server) pruneThrottle(ctx context.Context, now time.Time) {
	last := s.lastPrune.Load()
	if now.Unix()-last < 60 || !s.lastPrune.CompareAndSwap(last, now.Unix()) {
		return
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM login_pairs WHERE updated_at < $1
			AND (succeeded_at IS NULL OR succeeded_at < $2) AND (blocked_until IS NULL OR blocked_until < $3)`,
		now.Add(-24*time.Hour), now.Add(-s.cfg.KnownFor), now)
	if err == nil {
		_, err = s.pool.Exec(ctx, `DELETE FROM login_buckets
			WHERE level <= extract(epoch FROM $1 - at) / CASE kind WHEN 'name' THEN $2::float8 ELSE $3::float8 END`,
			now, s.cfg.NameLeak.Seconds(), s.cfg.AddrLeak.Seconds())
	}
	if err != nil {
		s.log.Error("api: prune the login throttle", "err", err)
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !s.decode(w, r, &req) {
		return
	}
	ctx := r.Context()
	now := s.cfg.Now()
	remote := remoteAddr(r)
	name := req.Name
	if len(name) > 64 || !utf8.ValidString(name) {
		name = "(invalid name)"
	}
	var res reservation
	var wait time.Duration
	err := s.loginGate.run(ctx, func() {
		var err error
		s.pruneThrottle(ctx, now)
		res, wait, err = s.reserveLogin(ctx, name, addrKey(remote), now)
		if err == nil && wait > 0 {
			err = appendAudit(ctx, s.pool, now, nil, remote, Entry{Action: "login.throttled", ActorName: name})
		}
		if err != nil {
			s.fail(w, r, err)
			wait = -1
		}
	})
	if err != nil {
		s.refuseBusy(w, r, name, remote, err)
		return
	}
	switch {
	case wait < 0: // answered
		return
	case wait > 0:
		s.logins.WithLabelValues("throttled").Inc()
		secs := int(math.Ceil(wait.Seconds()))
		s.log.Info("api: login refused, throttled", "request_id", requestID(r), "user", name, "remote", remote, "wait_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, r, http.StatusTooManyRequests, "too_many_attempts",
			fmt.Sprintf("too many failed logins: try again in %d s", secs))
		return
	}
	var stored string
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userColumns+", u.password_hash FROM users u WHERE u.name = $1", name), &stored)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		s.fail(w, r, fmt.Errorf("look up user: %w", err))
		return
	}
	var ok bool
	err = s.acct.hash.run(ctx, func() {
		if !found {
			// Check against a dummy hash, so that a login takes as long
			// whether the name exists or not.
			s.dummyOnce.Do(func() { s.dummyHash = hashPassword(newSecret(), s.cfg.KDF) })
			stored = s.dummyHash
		}
		ok = checkPassword(stored, req.Password)
	})
	if err != nil {
		// The password was never checked: the attempt does not count (if
		// the database work can be done now; otherwise it stays counted,
		// as a failure would).
		bg := context.WithoutCancel(ctx)
		var rerr error
		if gerr := s.loginGate.run(bg, func() {
			rerr = pgx.BeginFunc(bg, s.pool, func(tx pgx.Tx) error { return release(bg, tx, res, false, now) })
		}); gerr == nil && rerr != nil {
			s.log.Error("api: give back an unchecked login", "request_id", requestID(r), "err", rerr)
		}
		s.refuseBusy(w, r, name, remote, err)
		return
	}
	if !ok || !found || u.Disabled {
		s.logins.WithLabelValues("invalid").Inc()
		var actor *Principal
		if found {
			actor = &Principal{User: User{ID: u.ID, Name: u.Name, UnitID: u.UnitID}}
		}
		if err := appendAudit(ctx, s.pool, now, actor, remote, Entry{Action: "login.failure", ActorName: name,
			Detail: map[string]any{"consecutive_failures": res.failures}}); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info("api: login failed", "request_id", requestID(r), "user", name, "remote", remote, "failures", res.failures)
		writeError(w, r, http.StatusUnauthorized, "invalid_credentials", "wrong user name or password")
		return
	}
	sid := newSecret()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := release(ctx, tx, res, true, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, remote_addr) VALUES ($1, $2, $3, $3, $4)",
			sha(sid), u.ID, now, remote); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, &Principal{User: u}, remote, Entry{Action: "login.success"})
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("create session: %w", err))
		return
	}
	s.logins.WithLabelValues("success").Inc()
	s.log.Info("api: login", "request_id", requestID(r), "user", u.Name, "remote", remote)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionMax.Seconds())})
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u), "csrf_token": csrfToken(sid)})
}

// refuseBusy answers a login that found no slot free in time (err is
// errBusy) or whose client went away.
func (s *Server) refuseBusy(w http.ResponseWriter, r *http.Request, name, remote string, err error) {
	if errors.Is(err, errBusy) {
		s.logins.WithLabelValues("busy").Inc()
		s.log.Warn("api: login refused, busy", "request_id", requestID(r), "user", name, "remote", remote)
	}
	s.fail(w, r, err)
}

// busy answers a request that found no password hashing slot free.
func (s *Server) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	writeError(w, r, http.StatusServiceUnavailable, "busy", "the server is checking too many passwords at once: try again in a moment")
}
