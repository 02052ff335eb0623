package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// Public tips (举报): a caller reports an official car seen where it
// should not be; the tip is recorded with when it came in, how, the
// caller's number and what was said, the plate and the time and place
// alleged; fleetmon answers from its own data (tips_answer.go) and the
// case is worked through its steps (tips_steps.go) to closure, exported
// as evidence that fleetd verify checks (tips_export.go).
//
// Who may do what:
//   - Inspectors (纪检监察) register tips and take every step but the
//     unit's reply; supervisors of the car's unit record that reply; every
//     role reads the tips of its jurisdiction (the tip's unit subtree).
//   - The caller's number is shown in full to inspectors only, one tip at
//     a time on request (GET /api/v1/tips/{id}/caller, with a reason),
//     each view audited in the transaction that reads it. Everywhere else
//     (lists, the tip, the steps, exports, audit details) it is masked.
//     Administrators see it masked too: they run accounts and
//     configuration, not cases, and protecting a whistle-blower (举报人
//     保护) means as few eyes on the number as the work needs.

// tipRoutes registers the tip endpoints.
func (s *Server) tipRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/tips", s.listTips)
	p.HandleFunc("POST /api/v1/tips", s.createTip)
	p.HandleFunc("GET /api/v1/tips/{id}", s.getTip)
	p.HandleFunc("GET /api/v1/tips/{id}/caller", s.tipCaller)
	p.HandleFunc("POST /api/v1/tips/{id}/steps", s.tipStep)
	p.HandleFunc("GET /api/v1/tips/{id}/answer", s.onHistory(s.tipAnswer))
	p.HandleFunc("GET /api/v1/tips/{id}/export", s.onHistory(s.exportTip))
}

// tipChannels are the ways a tip comes in.
var tipChannels = []string{"phone", "letter", "web", "hotline_12345"}

// tipStates are the states of a case, in the order of the workflow.
var tipStates = []string{"registered", "passed", "replied", "verified", "fed_back", "closed"}

const (
	// maxTipText bounds a tip's content and a step's reason, in characters.
	maxTipText = 4000
	// maxTipPeriod bounds the time alleged: a tip is about an outing, and
	// its answer reads every car's track over the period.
	maxTipPeriod = 7 * 24 * time.Hour
)

var (
	tipKeyRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)
	callerRe    = regexp.MustCompile(`^[0-9+\- ]{0,20}$`)
	errTipRetry = errors.New("a retried request")
)

// maskCaller shows the first three and last four digits of a number long
// enough to keep the rest hidden ("138****5678"), and nothing of a short
// one.
func maskCaller(n string) string {
	d := []rune(strings.TrimSpace(n))
	switch {
	case len(d) == 0:
		return ""
	case len(d) < 10:
		return "****"
	}
	return string(d[:3]) + strings.Repeat("*", len(d)-7) + string(d[len(d)-4:])
}

type tipEventJSON struct {
	ID     int64          `json:"id"`
	At     string         `json:"at"`
	User   string         `json:"user"`
	Action string         `json:"action"`
	From   string         `json:"from"`
	To     string         `json:"to"`
	Reason string         `json:"reason,omitempty"`
	Detail map[string]any `json:"detail"`
}

type tipJSON struct {
	ID          int64  `json:"id"`
	UnitID      int64  `json:"unit_id"`
	Unit        string `json:"unit"`
	VehicleID   int64  `json:"vehicle_id,omitempty"`
	Plate       string `json:"plate,omitempty"`
	PlateText   string `json:"plate_text"`
	PlateUnsure bool   `json:"plate_unsure"`
	ReceivedAt  string `json:"received_at"`
	Channel     string `json:"channel"`
	// CallerNumber is always masked here (see tipCaller).
	CallerNumber string          `json:"caller_number"`
	Content      string          `json:"content"`
	From         string          `json:"from"`
	To           string          `json:"to"`
	PlaceText    string          `json:"place_text"`
	Area         json.RawMessage `json:"area,omitempty"`
	RadiusM      float64         `json:"radius_m,omitempty"`
	FenceID      int64           `json:"fence_id,omitempty"`
	State        string          `json:"state"`
	Deadline     string          `json:"deadline,omitempty"`
	// Overdue: passed to the unit, and its deadline gone by without a
	// reply.
	Overdue   bool           `json:"overdue"`
	Outcome   string         `json:"outcome,omitempty"`
	CreatedBy string         `json:"created_by"`
	CreatedAt string         `json:"created_at"`
	UpdatedAt string         `json:"updated_at"`
	Events    []tipEventJSON `json:"events,omitempty"`
}

// tipRow is a tip as stored, with what the API derives from it.
type tipRow struct {
	tipJSON
	caller   string
	from, to time.Time
	area     string
}

const tipColumns = `t.id, t.unit_id, unit_path(t.unit_id), COALESCE(t.vehicle_id, 0), COALESCE(v.plate, ''), t.plate_text,
	t.received_at, t.channel, t.caller_number, t.content, t.alleged_from, t.alleged_to, t.place_text, COALESCE(t.area_geojson, ''),
	t.radius_m, COALESCE(t.fence_id, 0), t.state, t.deadline, COALESCE(t.outcome, ''), t.created_by_name, t.created_at, t.updated_at`

const tipFrom = ` FROM tips t LEFT JOIN vehicles v ON v.id = t.vehicle_id`

func scanTip(row pgx.Row, now time.Time) (tipRow, error) {
	var t tipRow
	var received, created, updated time.Time
	var deadline *time.Time
	err := row.Scan(&t.ID, &t.UnitID, &t.Unit, &t.VehicleID, &t.Plate, &t.PlateText, &received, &t.Channel, &t.caller, &t.Content,
		&t.from, &t.to, &t.PlaceText, &t.area, &t.RadiusM, &t.FenceID, &t.State, &deadline, &t.Outcome, &t.CreatedBy, &created, &updated)
	if err != nil {
		return t, err
	}
	t.PlateUnsure = t.PlateText == ""
	t.ReceivedAt, t.CreatedAt, t.UpdatedAt = formatTime(received), formatTime(created), formatTime(updated)
	t.From, t.To = formatTime(t.from), formatTime(t.to)
	t.CallerNumber = maskCaller(t.caller)
	if t.area != "" {
		t.Area = json.RawMessage(t.area)
	}
	if deadline != nil {
		t.Deadline = formatTime(*deadline)
		t.Overdue = t.State == "passed" && now.After(*deadline)
	}
	return t, nil
}

// rowQuerier reads one row: a pool or a transaction.
type rowQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// tipIn returns the tip with id if its unit is in sc, else
// track.ErrNotFound; lock takes the row for an update in q's transaction.
func (s *Server) tipIn(ctx context.Context, q rowQuerier, sc track.Scope, id int64, lock bool) (tipRow, error) {
	return loadTip(ctx, q, sc, id, lock, s.cfg.Now())
}

func loadTip(ctx context.Context, q rowQuerier, sc track.Scope, id int64, lock bool, now time.Time) (tipRow, error) {
	sql := `SELECT ` + tipColumns + tipFrom + ` WHERE t.id = $1 AND ($2::bigint IS NULL OR t.unit_id IN (SELECT unit_subtree($2)))`
	if lock {
		sql += ` FOR UPDATE OF t`
	}
	t, err := scanTip(q.QueryRow(ctx, sql, id, sc.SQLArg()), now)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, track.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("tip %d: %w", id, err)
	}
	return t, nil
}

// tipEvents returns a tip's steps, oldest first.
func (s *Server) tipEvents(ctx context.Context, id int64) ([]tipEventJSON, error) {
	return loadTipEvents(ctx, s.pool, id)
}

func loadTipEvents(ctx context.Context, pool *pgxpool.Pool, id int64) ([]tipEventJSON, error) {
	out := []tipEventJSON{}
	rows, err := pool.Query(ctx, `SELECT id, at, actor_name, action, from_state, to_state, reason, detail FROM tip_events
		WHERE tip_id = $1 ORDER BY id`, id)
	if err == nil {
		var e tipEventJSON
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&e.ID, &at, &e.User, &e.Action, &e.From, &e.To, &e.Reason, &e.Detail}, func() error {
			e.At = formatTime(at)
			delete(e.Detail, "request") // the retry check's digest, nobody's business
			out = append(out, e)
			e.Detail = nil
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("steps of tip %d: %w", id, err)
	}
	return out, nil
}

func (s *Server) listTips(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state != "" && !slices.Contains(tipStates, state) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "state: want "+strings.Join(tipStates, ", "))
		return
	}
	overdue := q.Get("overdue")
	if overdue != "" && overdue != "true" && overdue != "false" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "overdue: want true or false")
		return
	}
	sc := principal(r).Scope()
	unit, ok := queryID(w, r, "unit")
	if !ok {
		return
	}
	if unit != 0 {
		if _, err := s.store.UnitIn(r.Context(), sc, unit); err != nil {
			s.fail(w, r, err)
			return
		}
		sc = track.Scope{Root: unit}
	}
	now := s.cfg.Now()
	const overdueSQL = `(t.state = 'passed' AND t.deadline < $2)`
	where := ` WHERE ($1::bigint IS NULL OR t.unit_id IN (SELECT unit_subtree($1)))`
	args := []any{sc.SQLArg(), now}
	// The counts per state and of overdue cases are over the jurisdiction
	// (and unit), whatever the state filter: the page shows them beside it.
	counts := map[string]int{"overdue": 0}
	for _, st := range tipStates {
		counts[st] = 0
	}
	err := s.queryEach(r.Context(), `SELECT t.state, count(*), count(*) FILTER (WHERE `+overdueSQL+`)`+tipFrom+where+` GROUP BY t.state`,
		args, func(row pgx.CollectableRow) error {
			var st string
			var n, late int
			err := row.Scan(&st, &n, &late)
			counts[st] = n
			counts["overdue"] += late
			return err
		})
	if err != nil {
		s.fail(w, r, fmt.Errorf("count tips: %w", err))
		return
	}
	if state != "" {
		args = append(args, state)
		where += fmt.Sprintf(` AND t.state = $%d`, len(args))
	}
	if overdue != "" {
		where += ` AND ` + overdueSQL + ` = ` + overdue
	}
	var items []tipJSON
	total := 0
	args = append(args, limit, offset)
	// Overdue cases first: they are what needs chasing.
	err = s.queryEach(r.Context(), `SELECT `+tipColumns+`, count(*) OVER ()`+tipFrom+where+
		fmt.Sprintf(` ORDER BY `+overdueSQL+` DESC, t.received_at DESC, t.id DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)),
		args, func(row pgx.CollectableRow) error {
			t, err := scanTip(totalRow{row, &total}, now)
			items = append(items, t.tipJSON)
			return err
		})
	if err != nil {
		s.fail(w, r, fmt.Errorf("list tips: %w", err))
		return
	}
	if items == nil {
		items = []tipJSON{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "limit": limit, "offset": offset, "counts": counts})
}

// totalRow scans a row's columns and then a trailing count(*) OVER ().
type totalRow struct {
	row   pgx.Row
	total *int
}

func (t totalRow) Scan(dest ...any) error { return t.row.Scan(append(dest, t.total)...) }

func (s *Server) getTip(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	t, err := s.tipIn(r.Context(), s.pool, principal(r).Scope(), id, false)
	if err == nil {
		t.Events, err = s.tipEvents(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t.tipJSON)
}

// tipCaller serves GET /api/v1/tips/{id}/caller?reason= to inspectors:
// the caller's number in full. The view is audited in the transaction
// that reads the number, before it is sent: no number leaves unaudited.
func (s *Server) tipCaller(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleInspector) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if reason == "" {
		writeError(w, r, http.StatusBadRequest, "reason_required", "give the reason for viewing the caller's number in ?reason=")
		return
	}
	if utf8.RuneCountInString(reason) > maxReason {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: at most 500 characters")
		return
	}
	var number string
	err := pgx.BeginFunc(r.Context(), s.pool, func(tx pgx.Tx) error {
		t, err := s.tipIn(r.Context(), tx, principal(r).Scope(), id, false)
		if err != nil {
			return err
		}
		number = t.caller
		return appendAudit(r.Context(), tx, s.cfg.Now(), principal(r), remoteAddr(r), Entry{Action: "tip.caller_view",
			VehicleID: t.VehicleID, SubjectUnitID: t.UnitID, Reason: reason, Detail: map[string]any{"tip_id": t.ID}})
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tip_id": id, "caller_number": number})
}

// requestHash is the digest of a request's JSON as decoded: a retry with
// the same key must ask for the same thing.
func requestHash(v any) []byte {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return h[:]
}
