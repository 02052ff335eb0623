package api

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/alerts"
	"fleetmon/fuel"
	"fleetmon/track"
	"fleetmon/track/commands"
)

// Config is the API's configuration. Zero fields take the documented
// defaults.
type Config struct {
	// SessionIdle ends a session unused for this long (default 30 min);
	// SessionMax ends any session this long after login (default 12 h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// SecureCookies marks the session cookie Secure; set it when serving
	// TLS (directly or behind a TLS-terminating proxy).
	SecureCookies bool
	// MaxBodyBytes caps a request body (default 1 MiB; CSV imports get 8
	// times as much).
	MaxBodyBytes int64
	// Fuel tunes the matching of fuel-card fills (zero fields: defaults).
	Fuel fuel.Config
	// LockAfter consecutive failed logins for a name from one address lock
	// it there for LockFor (defaults 5 and 15 min). From the second failure
	// on, each further attempt must wait 1 s, 2 s, 4 s, ... (see
	// throttleDelay).
	LockAfter int
	LockFor   time.Duration
	// KDF is the argon2id cost (default DefaultKDF).
	KDF KDF
	// HashConcurrency bounds the password hashes running at once (default
	// DefaultHashConcurrency), LoginConcurrency the logins doing their
	// database work at once (default DefaultLoginConcurrency); a login
	// beyond either waits up to BusyWait (default 2 s), then answers 503.
	HashConcurrency  int
	LoginConcurrency int
	BusyWait         time.Duration
	// AddrBurst failed logins from one source address (over every name)
	// are let through, then one more per AddrLeak (defaults 20 and 30 s);
	// NameBurst failed logins for one name (from every address), then one
	// more per NameLeak (defaults 20 and 1 min), except from addresses the
	// name has logged in from within KnownFor (default 90 days). See
	// README.md, "Login throttling".
	AddrBurst int
	AddrLeak  time.Duration
	NameBurst int
	NameLeak  time.Duration
	KnownFor  time.Duration
	// Registerer (may be nil) takes the API's metrics.
	Registerer prometheus.Registerer
	// MetricsAllow lists the client address ranges that may read /metrics
	// without credentials; MetricsToken, when set, is a bearer token that
	// may too. Otherwise /metrics needs an admin's session or API token.
	MetricsAllow []netip.Prefix
	MetricsToken string
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// Live is the hub behind GET /api/v1/live: positions as the gateway
	// queues them (this node's) or commits them (other nodes', through the
	// relay), and alert events; nil answers that endpoint with 503.
	Live *track.Hub
	// Rules is the running rules engine (*alerts.Runner): configuration
	// changes made through the API reload it, and POST
	// /api/v1/alerts/reevaluate asks it. Nil: changes are stored and taken
	// up at the next start, and re-evaluation answers 503.
	Rules Rules
	// Reads (may be nil) picks the pool that replay, evidence exports,
	// area search and reports read history from: a read replica within its
	// staleness bound, or the primary. Nil: the primary.
	Reads Reads
	// BaseMaps are the tile sources the map pages offer (see BaseMaps);
	// none: the map draws no tiles. Their hosts are let into the CSP.
	BaseMaps []BaseMap
	// Commands is the queue of commands to terminals; nil: a queue over
	// the store's pool with the default time-outs.
	Commands *commands.Store
}

func (c *Config) defaults() {
	if c.SessionIdle <= 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionMax <= 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.LockAfter <= 0 {
		c.LockAfter = 5
	}
	if c.LockFor <= 0 {
		c.LockFor = 15 * time.Minute
	}
	if c.KDF == (KDF{}) {
		c.KDF = DefaultKDF
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = DefaultHashConcurrency
	}
	if c.LoginConcurrency <= 0 {
		c.LoginConcurrency = DefaultLoginConcurrency
	}
	if c.BusyWait <= 0 {
		c.BusyWait = 2 * time.Second
	}
	if c.AddrBurst <= 0 {
		c.AddrBurst = 20
	}
	if c.AddrLeak <= 0 {
		c.AddrLeak = 30 * time.Second
	}
	if c.NameBurst <= 0 {
		c.NameBurst = 20
	}
	if c.NameLeak <= 0 {
		c.NameLeak = time.Minute
	}
	if c.KnownFor <= 0 {
		c.KnownFor = 90 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Server serves the HTTP side. Build it with New; it is an http.Handler.
type Server struct {
	cfg   Config
	store *track.Store
	pool  *pgxpool.Pool
	acct  *Accounts
	// commands is the queue of commands to terminals (commands.go).
	commands *commands.Store
	log      *slog.Logger
	metrics  http.Handler
	health   func(context.Context) error
	public   *http.ServeMux
	private  *http.ServeMux
	// patterns lists the routes, for the test that holds openapi.yaml to them.
	patterns []string

	// alerts reads and writes the rules' configuration and episodes.
	alerts *alerts.Store
	// fuel matches fuel-card fills against the tracks and keeps the leads.
	fuel *fuel.Store

	dummyOnce sync.Once
	dummyHash string
	// logins counts login attempts by result; lastPrune (unix seconds) is
	// when the throttle's idle rows were last removed.
	logins    *prometheus.CounterVec
	lastPrune atomic.Int64
	// loginGate bounds the logins doing database work at once.
	loginGate *limiter

	// csp is the Content-Security-Policy, with the tile hosts of the
	// base maps.
	csp string
}

// New returns the API server on store. metrics (may be nil) is served at
// /metrics behind Config.MetricsAllow / MetricsToken; health (may be nil)
// answers /healthz.
func New(cfg Config, store *track.Store, metrics http.Handler, health func(context.Context) error, log *slog.Logger) *Server {
	cfg.defaults()
	s := &Server{cfg: cfg, store: store, pool: store.Pool(), log: log, metrics: metrics, health: health,
		public: http.NewServeMux(), private: http.NewServeMux()}
	s.acct = &Accounts{pool: s.pool, hash: newHasher(cfg.KDF, cfg.HashConcurrency, cfg.BusyWait), now: cfg.Now}
	s.loginGate = newLimiter(cfg.LoginConcurrency, cfg.BusyWait)
	s.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fleetmon_api_logins_total",
		Help: "Login attempts by result: success, invalid (wrong name or password), throttled (refused before hashing), busy (no hashing slot)."},
		[]string{"result"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.logins, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fleetmon_api_password_hashes_running",
			Help: "Password hashes running now (at most the hashing concurrency)."}, func() float64 { return float64(s.acct.hash.running.Load()) }))
	}
	s.alerts = alerts.NewStore(s.pool)
	s.commands = cfg.Commands
	if s.commands == nil {
		s.commands = commands.NewStore(s.pool, commands.Config{}, nil)
	}
	s.fuel = fuel.NewStore(s.pool, store)
	s.csp = "default-src 'self'; img-src " + imgSources(cfg.BaseMaps) + "; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	s.routes()
	return s
}

//go:embed openapi.yaml
var openAPI []byte

//go:embed login.html
var loginHTML []byte

//go:embed login.js
var loginJS []byte

//go:embed login.css
var loginCSS []byte

func (s *Server) routes() {
	page := func(ctype string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			_, _ = w.Write(body)
		}
	}
	s.public.HandleFunc("GET /{$}", page("text/html; charset=utf-8", loginHTML))
	s.public.HandleFunc("GET /login", page("text/html; charset=utf-8", loginHTML))
	s.public.HandleFunc("GET /login.js", page("text/javascript; charset=utf-8", loginJS))
	s.public.HandleFunc("GET /login.css", page("text/css; charset=utf-8", loginCSS))
	s.public.HandleFunc("GET /password", page("text/html; charset=utf-8", loginHTML))
	s.public.HandleFunc("GET /healthz", s.healthz)
	s.public.HandleFunc("GET /metrics", s.serveMetrics)
	s.public.HandleFunc("POST /api/v1/login", s.login)
	s.public.HandleFunc("GET /api/v1/password-policy", s.passwordPolicy)

	p := routeRecorder{s}
	p.HandleFunc("GET /api/v1/openapi.yaml", page("application/yaml", openAPI))
	p.HandleFunc("POST /api/v1/logout", s.logout)
	p.HandleFunc("GET /api/v1/me", s.me)
	p.HandleFunc("POST /api/v1/me/password", s.changePassword)

	p.HandleFunc("GET /api/v1/units", s.listUnits)
	p.HandleFunc("POST /api/v1/units", s.createUnit)
	p.HandleFunc("PATCH /api/v1/units/{id}", s.updateUnit)
	p.HandleFunc("POST /api/v1/units/import", s.importUnits)

	p.HandleFunc("GET /api/v1/users", s.listUsers)
	p.HandleFunc("POST /api/v1/users", s.createUser)
	p.HandleFunc("POST /api/v1/users/{id}/disable", s.disableUser)
	p.HandleFunc("POST /api/v1/users/{id}/reset-password", s.resetPassword)
	p.HandleFunc("POST /api/v1/users/{id}/role", s.setUserRole)

	p.HandleFunc("GET /api/v1/vehicles", s.listVehicles)
	p.HandleFunc("POST /api/v1/vehicles", s.createVehicle)
	p.HandleFunc("POST /api/v1/vehicles/import", s.importVehicles)
	p.HandleFunc("GET /api/v1/vehicles/{id}", s.getVehicle)
	p.HandleFunc("PATCH /api/v1/vehicles/{id}", s.updateVehicle)
	p.HandleFunc("POST /api/v1/vehicles/{id}/seal", s.sealVehicle(true))
	p.HandleFunc("POST /api/v1/vehicles/{id}/unseal", s.sealVehicle(false))
	p.HandleFunc("GET /api/v1/vehicles/{id}/seals", s.sealHistory)
	p.HandleFunc("PUT /api/v1/vehicles/{id}/terminal", s.bindTerminal)
	p.HandleFunc("GET /api/v1/vehicles/{id}/track", s.onHistory(s.vehicleTrack))

	p.HandleFunc("GET /api/v1/terminals", s.listTerminals)
	p.HandleFunc("GET /api/v1/terminals/{phone}", s.getTerminal)
	p.HandleFunc("GET /api/v1/positions", s.listPositions)
	p.HandleFunc("GET /api/v1/audit", s.listAudit)
	p.HandleFunc("GET /api/v1/live", s.live)
	s.alertRoutes(p)
	s.calendarRoutes(p)
	s.reportRoutes(p)
	s.statsRoutes(p)
	s.historyRoutes(p)
	s.notifyRoutes(p)
	s.uiRoutes(p)
	s.geofenceRoutes(p)
	s.commandRoutes(p)
	s.fuelRoutes(p)
	s.tipRoutes(p)
	s.tripRoutes(p)
}

// routeRecorder registers private routes and remembers their patterns.
type routeRecorder struct{ s *Server }

func (rr routeRecorder) HandleFunc(pattern string, h http.HandlerFunc) {
	rr.s.private.HandleFunc(pattern, h)
	rr.s.patterns = append(rr.s.patterns, pattern)
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
)

// ServeHTTP runs the middleware (request id, security headers, body limit,
// recovery), serves the public routes, and authenticates every other
// request before routing it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	ctx := context.WithValue(r.Context(), keyRequestID, id)
	r = r.WithContext(ctx)
	h := w.Header()
	h.Set("X-Request-Id", id)
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		// One year, the value HSTS preload lists ask for.
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
	if r.Method == http.MethodPost && r.URL.Path == verifyPath {
		// An evidence export to verify: tens of MB for a month at 10 s.
		r.Body = http.MaxBytesReader(w, r.Body, maxEvidenceBytes+1)
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes*8)
	}
	if what := urlText(r.URL); what != "" {
		writeBadText(w, r, what)
		return
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("api: panic", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", v)
			writeError(w, r, http.StatusInternalServerError, "internal", "internal error; quote the request id")
		}
	}()

	// ServeMux.Handler finds the pattern but sets no path values:
	// ServeHTTP routes again, with them.
	if _, pattern := s.public.Handler(r); pattern != "" {
		r, cancel := withDeadline(r, pattern)
		defer cancel()
		s.public.ServeHTTP(w, r)
		return
	}
	_, pattern := s.private.Handler(r)
	r, cancel := withDeadline(r, pattern)
	defer cancel()
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), keyPrincipal, p))
	if pattern == "" {
		writeError(w, r, http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if p.MustChange && pattern != "GET /api/v1/me" && pattern != "POST /api/v1/me/password" && pattern != "POST /api/v1/logout" {
		writeError(w, r, http.StatusForbidden, "password_change_required",
			"this account has a one-time password: set a new one with POST /api/v1/me/password")
		return
	}
	if p.Role == RoleStaff && !staffMay(pattern) {
		writeError(w, r, http.StatusForbidden, "forbidden", "your role may not do this")
		return
	}
	s.private.ServeHTTP(w, r)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

func principal(r *http.Request) *Principal {
	p, _ := r.Context().Value(keyPrincipal).(*Principal)
	return p
}

// errorBody is every error answer: {"error":{"code":..,"message":..,"request_id":..}}.
type errorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, forClient(r, msg)
	if status >= 500 {
		b.Error.RequestID = requestID(r)
	}
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers err: not found and conflicts as such, anything else as an
// internal error, logged with the request id and not shown to the client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, track.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, errBusy):
		s.busy(w, r)
	case errors.Is(err, track.ErrConflict):
		writeError(w, r, http.StatusConflict, "conflict", "the change conflicts with existing data (a name, plate or terminal already taken, or a unit moved under itself)")
	case isTextRefused(err):
		// Text the checks on the way in did not cover (a CSV import's
		// cell, a name inside an uploaded file).
		writeBadText(w, r, "request")
	default:
		s.log.Error("api: request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, r, http.StatusInternalServerError, "internal", "internal error; quote the request id")
	}
}

// decode reads a JSON body into v, refusing unknown fields and oversized
// bodies; it answers the client itself and returns false on error.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	// Requiring application/json also keeps cross-site HTML forms out: they
	// cannot send it without a CORS preflight, which fleetmon never grants.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	body, ok := s.readBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if msg := unknownField(body, v); msg != "" && strings.HasPrefix(err.Error(), "json: unknown field") {
			writeError(w, r, http.StatusBadRequest, "bad_request", msg)
			return false
		}
		writeError(w, r, http.StatusBadRequest, "bad_request", "request body is not the JSON expected: "+jsonProblem(err))
		return false
	}
	if !decodedText(reflect.ValueOf(v)) {
		writeBadText(w, r, "request body")
		return false
	}
	return true
}

// jsonProblem says what is wrong with a JSON body in the client's terms:
// the field and the kind of value wanted, not the server's Go types.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		want := "another kind of value"
		switch te.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			want = "a number in range"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.Struct, reflect.Map:
			want = "an object"
		}
		field := te.Field
		if field == "" {
			field = "body"
		}
		return field + ": want " + want
	case errors.As(err, &se):
		return "not JSON at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends early"
	}
	// Unknown fields, and times not in RFC 3339: messages about the
	// client's own input.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// isTextRefused reports whether err is PostgreSQL refusing text: invalid
// UTF-8 or NUL (22021), or a \u0000 in JSON (22P05).
func isTextRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05")
}

// page reads ?limit= (default 50, at most 500) and ?offset=.
func page(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 50, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "limit: want 1 to 500")
			return 0, 0, false
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "offset: want a number ≥ 0")
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return 0, false
	}
	return id, true
}

func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.health(ctx); err != nil {
			s.log.Warn("api: health check", "request_id", requestID(r), "err", err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("database unreachable\n"))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// serveMetrics serves /metrics behind Guard.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metrics == nil {
		writeError(w, r, http.StatusNotFound, "not_found", "no metrics")
		return
	}
	s.Guard(s.metrics).ServeHTTP(w, r)
}

// Guard lets through to h only a client in Config.MetricsAllow, one sending
// Config.MetricsToken as a bearer token, or an authenticated administrator:
// the rule for /metrics, and for the profiles fleetd serve --pprof mounts.
func (s *Server) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := false
		if a, err := netip.ParseAddr(remoteAddr(r)); err == nil {
			a = a.Unmap()
			for _, p := range s.cfg.MetricsAllow {
				if p.Contains(a) {
					allowed = true
					break
				}
			}
		}
		if !allowed && s.cfg.MetricsToken != "" {
			if tok, ok := bearer(r); ok && constantTimeEqual(tok, s.cfg.MetricsToken) {
				allowed = true
			}
		}
		if !allowed {
			p, ok := s.authenticate(w, r)
			if !ok {
				return
			}
			if p.Role != RoleAdmin || p.MustChange {
				writeError(w, r, http.StatusForbidden, "forbidden", "for administrators only")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
