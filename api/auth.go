package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/argon2"

	"fleetmon/track"
)

// Role is what a user may do; their unit bounds where.
type Role string

// The roles.
const (
	// RoleAdmin may do everything within their jurisdiction, including
	// managing units and users and reading the audit log.
	RoleAdmin Role = "admin"
	// RoleSupervisor manages vehicles and terminals within their unit's
	// subtree; no units, users or audit log.
	RoleSupervisor Role = "supervisor"
	// RoleInspector (纪检监察, finance, audit) reads everything within
	// their subtree, including the audit log, and changes nothing but
	// alerts' verification (核查, see alerts.go); every track they view or
	// export is recorded with the reason they give.
	RoleInspector Role = "inspector"
	// RoleStaff (工作人员) may only request cars and read their own
	// requests (trip_requests.go): no map, track, vehicle or alert, so
	// that the many people who need a car see nothing of the monitoring.
	RoleStaff Role = "staff"
)

// ParseRole accepts a role name.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleAdmin, RoleSupervisor, RoleInspector, RoleStaff:
		return r, true
	}
	return "", false
}

// KDF is the argon2id cost (RFC 9106).
type KDF struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDF is RFC 9106's second recommended option (t=3, 64 MiB), with
// two lanes for a two-core server: about 0.1 s per login.
var DefaultKDF = KDF{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// hashPassword returns the PHC string of password under a fresh 16-byte salt.
func hashPassword(password string, k KDF) string {
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	key := argon2.IDKey([]byte(password), salt[:], k.Time, k.MemoryKiB, k.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, k.MemoryKiB, k.Time, k.Threads,
		enc.EncodeToString(salt[:]), enc.EncodeToString(key))
}

// checkPassword reports whether password matches the PHC string stored,
// using the cost recorded in it.
func checkPassword(stored, password string) bool {
	parts := strings.Split(stored, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// CheckPasswordPolicy returns why password is not acceptable for the user
// name, or nil. The rule (documented in README.md): at least 12 characters,
// or at least 10 with three of the four classes lower case, upper case,
// digits and others; at most 256; not the user name (in any case), nor
// containing it.
func CheckPasswordPolicy(name, password string) error {
	n := utf8.RuneCountInString(password)
	if n > passwordMax {
		return fmt.Errorf("password: at most %d characters", passwordMax)
	}
	var lower, upper, digit, other bool
	for _, c := range password {
		switch {
		case unicode.IsLower(c):
			lower = true
		case unicode.IsUpper(c):
			upper = true
		case unicode.IsDigit(c):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			classes++
		}
	}
	if n < passwordMinMixed || (n < passwordMin && classes < passwordMixedClasses) {
		return fmt.Errorf("password: want at least %d characters, or at least %d with three of lower case, upper case, digits and symbols",
			passwordMin, passwordMinMixed)
	}
	if name != "" && strings.Contains(strings.ToLower(password), strings.ToLower(name)) {
		return errors.New("password: must not contain the user name")
	}
	return nil
}

// oneTimeAlphabet leaves out look-alike characters (0/O, 1/l/I).
const oneTimeAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newOneTimePassword returns 16 random characters (about 93 bits) that pass
// the policy for any user name (a name of 2+ characters could in principle
// appear inside it: retried).
func newOneTimePassword(name string) string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		for i := range b {
			// 256 is not a multiple of 56: the bias (at most 1/256 on a few
			// letters) is immaterial for a one-time password.
			b[i] = oneTimeAlphabet[int(b[i])%len(oneTimeAlphabet)]
		}
		if CheckPasswordPolicy(name, string(b[:])) == nil {
			return string(b[:])
		}
	}
}

// tokenPrefix marks fleetmon API tokens, so secret scanners can find them.
const tokenPrefix = "fmt_"

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// csrfToken derives a session's CSRF token from its id: knowing it reveals
// nothing of the id (SHA-256 preimage), and nothing needs storing.
func csrfToken(sessionID string) string {
	h := sha256.Sum256([]byte("fleetmon-csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// User is an account.
type User struct {
	ID         int64
	Name       string
	Role       Role
	UnitID     int64 // 0: the top (admins only)
	UnitPath   string
	MustChange bool
	Disabled   bool
}

// Scope is the user's jurisdiction.
func (u *User) Scope() track.Scope { return track.Scope{Root: u.UnitID} }

// ErrBadInput is returned for a user name, role or password that is not
// acceptable; the message says why.
var ErrBadInput = errors.New("api: bad input")

// Accounts manages users and API tokens; fleetd's users and token commands
// use it directly. Safe for concurrent use.
type Accounts struct {
	pool *pgxpool.Pool
	hash *hasher
	now  func() time.Time
}

// NewAccounts returns account management on pool with the default cost,
// for fleetd's commands: they hash one password at a time.
func NewAccounts(pool *pgxpool.Pool) *Accounts {
	return &Accounts{pool: pool, hash: newHasher(DefaultKDF, 1, time.Minute), now: time.Now}
}

// consoleActor names the operator at the server's console in the audit log.
const consoleActor = "(console)"

func validUserName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("_.@-", c)) {
			return false
		}
	}
	return true
}

// CreateUser creates a user with a one-time password, which it returns: the
// user must change it at first login. unitID 0 puts an admin at the top.
// actor (nil: the console) is recorded in the audit log.
func (a *Accounts) CreateUser(ctx context.Context, actor *Principal, remote, name string, role Role, unitID int64) (User, string, error) {
	if !validUserName(name) {
		return User{}, "", fmt.Errorf("user name %q: want 1 to 64 letters, digits or _.@-: %w", name, ErrBadInput)
	}
	if _, ok := ParseRole(string(role)); !ok {
		return User{}, "", fmt.Errorf("role %q: want admin, supervisor, inspector or staff: %w", role, ErrBadInput)
	}
	if unitID == 0 && role != RoleAdmin {
		return User{}, "", fmt.Errorf("a %s needs a unit: %w", role, ErrBadInput)
	}
	otp := newOneTimePassword(name)
	hash, err := a.hash.hash(ctx, otp)
	if err != nil {
		return User{}, "", fmt.Errorf("hash the one-time password of %s: %w", name, err)
	}
	var unit *int64
	if unitID != 0 {
		unit = &unitID
	}
	var id int64
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "INSERT INTO users (name, role, unit_id, password_hash, must_change) VALUES ($1, $2, $3, $4, true) RETURNING id",
			name, string(role), unit, hash).Scan(&id)
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, a.now(), actor, remote, Entry{Action: "user.create", SubjectUnitID: unitID,
			Detail: map[string]any{"user": name, "role": role}})
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return User{}, "", fmt.Errorf("user %q exists: %w", name, track.ErrConflict)
		}
		if errors.As(err, &pe) && pe.Code == "23503" {
			return User{}, "", fmt.Errorf("unit %d: %w", unitID, track.ErrNotFound)
		}
		return User{}, "", fmt.Errorf("create user %s: %w", name, err)
	}
	u, err := a.userByID(ctx, id)
	return u, otp, err
}

const userColumns = `u.id, u.name, u.role, COALESCE(u.unit_id, 0), COALESCE(unit_path(u.unit_id), ''), u.must_change, u.disabled`

func scanUser(r pgx.Row, extra ...any) (User, error) {
	var u User
	var role string
	err := r.Scan(append([]any{&u.ID, &u.Name, &role, &u.UnitID, &u.UnitPath, &u.MustChange, &u.Disabled}, extra...)...)
	u.Role = Role(role)
	return u, err
}

func (a *Accounts) userByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(a.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users u WHERE u.id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, track.ErrNotFound
	}
	return u, err
}

// EnsureAdmin creates the user admin, at the top, when there is no user at
// all, and returns its one-time password ("" when users exist). Several
// nodes starting at once create it once (the unique name decides).
func (a *Accounts) EnsureAdmin(ctx context.Context) (string, error) {
	var exists bool
	if err := a.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists); err != nil {
		return "", fmt.Errorf("look for users: %w", err)
	}
	if exists {
		return "", nil
	}
	_, otp, err := a.CreateUser(ctx, nil, "", "admin", RoleAdmin, 0)
	if errors.Is(err, track.ErrConflict) {
		return "", nil
	}
	return otp, err
}

// CreateToken creates an API token for the user and returns its id and the
// token, which is shown only now: only its SHA-256 is stored.
func (a *Accounts) CreateToken(ctx context.Context, userName, label string) (int64, string, error) {
	tok := tokenPrefix + newSecret()
	var id int64
	err := pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var uid int64
		var unit *int64
		err := tx.QueryRow(ctx, "SELECT id, unit_id FROM users WHERE name = $1 AND NOT disabled", userName).Scan(&uid, &unit)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %q: %w", userName, track.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "INSERT INTO api_tokens (user_id, token_hash, label, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
			uid, sha(tok), label, a.now()).Scan(&id); err != nil {
			return err
		}
		var su int64
		if unit != nil {
			su = *unit
		}
		return appendAudit(ctx, tx, a.now(), nil, "", Entry{Action: "token.create", SubjectUnitID: su,
			Detail: map[string]any{"user": userName, "token_id": id, "label": label}})
	})
	if err != nil {
		return 0, "", fmt.Errorf("create token: %w", err)
	}
	return id, tok, nil
}

// RevokeToken revokes the API token id.
func (a *Accounts) RevokeToken(ctx context.Context, id int64) error {
	return pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		var name string
		var unit *int64
		err := tx.QueryRow(ctx, `UPDATE api_tokens t SET revoked_at = $2 FROM users u
			WHERE t.id = $1 AND u.id = t.user_id AND t.revoked_at IS NULL RETURNING u.name, u.unit_id`, id, a.now()).Scan(&name, &unit)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("token %d (or not active): %w", id, track.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke token %d: %w", id, err)
		}
		var su int64
		if unit != nil {
			su = *unit
		}
		return appendAudit(ctx, tx, a.now(), nil, "", Entry{Action: "token.revoke", SubjectUnitID: su,
			Detail: map[string]any{"user": name, "token_id": id}})
	})
}

// Principal is the authenticated caller of a request.
type Principal struct {
	User
	// SessionHash is set for a browser session (nil for an API token).
	SessionHash []byte
	TokenID     int64
}

const sessionCookie = "fleetmon_session"

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// authenticate finds the caller by bearer token or session cookie, and
// checks the session's age and, for unsafe methods, its CSRF token. It
// answers the client itself when it returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	ctx := r.Context()
	now := s.cfg.Now()
	if tok, ok := bearer(r); ok {
		p := &Principal{}
		u, err := scanUser(s.pool.QueryRow(ctx, `UPDATE api_tokens t SET last_used_at = $2 FROM users u
			WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.id = t.user_id AND NOT u.disabled
			RETURNING `+userColumns+`, t.id`, sha(tok), now), &p.TokenID)
		if errors.Is(err, pgx.ErrNoRows) {
			writeError(w, r, http.StatusUnauthorized, "unauthorized", "invalid or revoked API token")
			return nil, false
		}
		if err != nil {
			s.fail(w, r, fmt.Errorf("authenticate token: %w", err))
			return nil, false
		}
		// A token is for an integration: the one-time password rule is for
		// people logging in, who saw that password.
		u.MustChange = false
		p.User = u
		return p, true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		writeError(w, r, http.StatusUnauthorized, "unauthorized", "log in first (POST /api/v1/login) or send an API token")
		return nil, false
	}
	p := &Principal{SessionHash: sha(c.Value)}
	var created, seen time.Time
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, s.created_at, s.last_seen_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND NOT u.disabled`, p.SessionHash), &created, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		writeError(w, r, http.StatusUnauthorized, "unauthorized", "no such session: log in again")
		return nil, false
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("authenticate session: %w", err))
		return nil, false
	}
	if now.Sub(created) > s.cfg.SessionMax || now.Sub(seen) > s.cfg.SessionIdle {
		if _, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE id_hash = $1", p.SessionHash); err != nil {
			s.log.Error("api: delete expired session", "request_id", requestID(r), "err", err)
		}
		writeError(w, r, http.StatusUnauthorized, "session_expired", "the session has expired: log in again")
		return nil, false
	}
	if unsafeMethod(r.Method) && !constantTimeEqual(r.Header.Get("X-CSRF-Token"), csrfToken(c.Value)) {
		writeError(w, r, http.StatusForbidden, "csrf_token_invalid", "send the session's csrf_token in the X-CSRF-Token header")
		return nil, false
	}
	// Move last_seen_at once a minute at most: a write per request is waste.
	if now.Sub(seen) > time.Minute {
		if _, err := s.pool.Exec(ctx, "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1", p.SessionHash, now); err != nil {
			s.log.Error("api: touch session", "request_id", requestID(r), "err", err)
		}
	}
	p.User = u
	return p, true
}

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

type userJSON struct {
	ID                 int64  `json:"id"`
	Name               string `json:"name"`
	Role               Role   `json:"role"`
	UnitID             int64  `json:"unit_id,omitempty"`
	Unit               string `json:"unit"`
	MustChangePassword bool   `json:"must_change_password"`
	Disabled           bool   `json:"disabled"`
}

func toUserJSON(u User) userJSON {
	return userJSON{ID: u.ID, Name: u.Name, Role: u.Role, UnitID: u.UnitID, Unit: u.UnitPath,
		MustChangePassword: u.MustChange, Disabled: u.Disabled}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p.SessionHash != nil {
		if _, err := s.pool.Exec(r.Context(), "DELETE FROM sessions WHERE id_hash = $1", p.SessionHash); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	out := map[string]any{"user": toUserJSON(p.User)}
	if c, err := r.Cookie(sessionCookie); err == nil && p.SessionHash != nil {
		out["csrf_token"] = csrfToken(c.Value)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var req struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	ctx := r.Context()
	var stored string
	if err := s.pool.QueryRow(ctx, "SELECT password_hash FROM users WHERE id = $1", p.ID).Scan(&stored); err != nil {
		s.fail(w, r, err)
		return
	}
	ok, err := s.acct.hash.check(ctx, stored, req.Current)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		writeError(w, r, http.StatusForbidden, "invalid_credentials", "the current password is wrong")
		return
	}
	if err := CheckPasswordPolicy(p.Name, req.New); err != nil {
		writeError(w, r, http.StatusBadRequest, "weak_password", err.Error())
		return
	}
	if req.New == req.Current {
		writeError(w, r, http.StatusBadRequest, "weak_password", "password: must differ from the current one")
		return
	}
	hash, err := s.acct.hash.hash(ctx, req.New)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.cfg.Now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE users SET password_hash = $2, must_change = false, password_changed_at = $3 WHERE id = $1",
			p.ID, hash, now); err != nil {
			return err
		}
		// Other sessions end: whoever else knew the old password is out.
		if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1 AND id_hash IS DISTINCT FROM $2", p.ID, p.SessionHash); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, p, remoteAddr(r), Entry{Action: "user.password_change", SubjectUnitID: p.UnitID,
			Detail: map[string]any{"user": p.Name}})
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("change password: %w", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
