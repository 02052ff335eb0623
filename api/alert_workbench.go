package api

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
	"fleetmon/track"
)

// The alerts page's side of the alert endpoints: the filters every list
// and export shares (a unit's subtree among them), the counts per
// verification state, and what an alert was judged against, which the
// episode stores only as ids and versions (the fence's name, the approval,
// the calendar), looked up for a page of alerts at once.

// alertWorkbenchRoutes registers the explanations (with their scans) and
// the XLSX export.
func (s *Server) alertWorkbenchRoutes(p routeRecorder) {
	p.HandleFunc("POST /api/v1/alerts/{id}/explanations", s.explainAlert)
	p.HandleFunc("GET /api/v1/alerts/{id}/explanations/{eid}/file", s.explanationFile)
	p.HandleFunc("GET /api/v1/alerts/export", s.exportAlerts)
}

// verifications are the verification states, in the order of the
// workflow; the list's counts come in this order.
var verifications = []alerts.Verification{alerts.VerificationOpen, alerts.VerificationExplanationRequested,
	alerts.VerificationConfirmed, alerts.VerificationDismissed}

// alertQuery reads the filters of the alert list and export: ?unit= (its
// subtree, within the caller's jurisdiction), ?vehicle=, ?rule=, ?state=,
// ?verification=, ?from=, ?to=. It answers the client itself on error.
func (s *Server) alertQuery(w http.ResponseWriter, r *http.Request) (alerts.EpisodeQuery, bool) {
	from, to, ok := period(w, r, false)
	if !ok {
		return alerts.EpisodeQuery{}, false
	}
	q := r.URL.Query()
	eq := alerts.EpisodeQuery{Scope: principal(r).Scope(), From: from, To: to}
	unit, ok := queryID(w, r, "unit")
	if !ok {
		return eq, false
	}
	if unit != 0 {
		// A unit outside the jurisdiction is "not found", as everywhere.
		if _, err := s.store.UnitIn(r.Context(), eq.Scope, unit); err != nil {
			s.fail(w, r, err)
			return eq, false
		}
		eq.Scope = track.Scope{Root: unit}
	}
	if eq.VehicleID, ok = queryID(w, r, "vehicle"); !ok {
		return eq, false
	}
	if v := q.Get("rule"); v != "" {
		if !alerts.RuleID(v).Known() {
			writeError(w, r, http.StatusBadRequest, "bad_request", "rule: "+(&alerts.UnknownNameError{What: "规则 rule", Name: v, Valid: ruleIDs()}).Error())
			return eq, false
		}
		eq.Rule = alerts.RuleID(v)
	}
	switch v := alerts.EpisodeStatus(q.Get("state")); v {
	case "", alerts.EpisodeOpen, alerts.EpisodeClosed, alerts.EpisodeRetracted:
		eq.Status = v
	default:
		writeError(w, r, http.StatusBadRequest, "bad_request", "state: want open, closed or retracted")
		return eq, false
	}
	if v := alerts.Verification(q.Get("verification")); v == "" || slices.Contains(verifications, v) {
		eq.Verification = v
	} else {
		writeError(w, r, http.StatusBadRequest, "bad_request", "verification: want open, explanation_requested, confirmed or dismissed")
		return eq, false
	}
	return eq, true
}

// verificationCounts counts the alerts q selects in each verification
// state, whatever q.Verification says: the page shows how many wait for
// each step beside the list of one.
func (s *Server) verificationCounts(ctx context.Context, q alerts.EpisodeQuery) (map[string]int, error) {
	q.Limit, q.Offset = 1, 0
	counts := make(map[string]int, len(verifications))
	for _, v := range verifications {
		q.Verification = v
		_, n, err := s.alerts.ListEpisodes(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("count %s alerts: %w", v, err)
		}
		counts[string(v)] = n
	}
	return counts, nil
}

// approvalRefJSON is the approval (派车单) an alert was judged against.
type approvalRefJSON struct {
	ID       int64  `json:"id"`
	Start    string `json:"start"`
	End      string `json:"end"`
	Driver   string `json:"driver,omitempty"`
	Purpose  string `json:"purpose,omitempty"`
	Approver string `json:"approver,omitempty"`
	FenceID  int64  `json:"fence_id,omitempty"`
}

// calendarRefJSON is the work calendar an alert was judged against, read
// from its calendar version ("cal<id>.r<revision>.<digest>"): whose it is,
// the revision used, and the revision in force now (a later edit does not
// change the verdict, and the page says so).
type calendarRefJSON struct {
	ID              int64  `json:"id"`
	Revision        int    `json:"revision"`
	CurrentRevision int    `json:"current_revision,omitempty"`
	UnitID          int64  `json:"unit_id,omitempty"`
	Unit            string `json:"unit,omitempty"`
	// Default: the calendar for units without their own up the tree.
	Default bool `json:"default,omitempty"`
}

// explanationJSON is an explanation recorded for an alert; the scan itself
// is at GET /api/v1/alerts/{id}/explanations/{eid}/file.
type explanationJSON struct {
	ID          int64  `json:"id"`
	At          string `json:"at"`
	User        string `json:"user"`
	Text        string `json:"text,omitempty"`
	FileName    string `json:"file_name,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int    `json:"size,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
}

var calendarVersion = regexp.MustCompile(`^cal(\d+)\.r(\d+)\.`)

// speedLimit reads the limit from a speeding alert's detail ("limit 80
// km/h", as the rule writes it).
var speedLimit = regexp.MustCompile(`^limit ([0-9.]+) km/h$`)

// judgedAgainst adds to a page of alerts what they were judged against:
// the fence's name, the approval, the calendar, and the explanations
// recorded. Fences and approvals are looked up by id without a foreign
// key: one deleted since is simply not named.
func (s *Server) judgedAgainst(ctx context.Context, out []alertJSON) error {
	if len(out) == 0 {
		return nil
	}
	var fences, approvals, cals []int64
	ids := make([]string, len(out))
	for i := range out {
		a := &out[i]
		ids[i] = a.ID
		a.Explanations = []explanationJSON{}
		if a.Start != "" && a.End != "" {
			st, err1 := time.Parse(time.RFC3339, a.Start)
			en, err2 := time.Parse(time.RFC3339, a.End)
			if err1 == nil && err2 == nil {
				a.DurationS = en.Sub(st).Seconds()
			}
		}
		if m := speedLimit.FindStringSubmatch(a.Detail); m != nil {
			if v, err := strconv.ParseFloat(m[1], 32); err == nil {
				a.SpeedLimitKmh = float32(v)
			}
		}
		if a.FenceID != 0 {
			fences = append(fences, a.FenceID)
		}
		if a.ApprovalID != 0 {
			approvals = append(approvals, a.ApprovalID)
		}
		if m := calendarVersion.FindStringSubmatch(a.CalendarVersion); m != nil {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			rev, _ := strconv.Atoi(m[2])
			a.Calendar = &calendarRefJSON{ID: id, Revision: rev}
			cals = append(cals, id)
		}
	}
	names := map[int64]string{}
	if err := s.queryEach(ctx, `SELECT id, name FROM alert_fences WHERE id = ANY($1)`, []any{fences}, func(row pgx.CollectableRow) error {
		var id int64
		var name string
		err := row.Scan(&id, &name)
		names[id] = name
		return err
	}); err != nil {
		return fmt.Errorf("names of %d fences: %w", len(fences), err)
	}
	apps := map[int64]*approvalRefJSON{}
	if err := s.queryEach(ctx, `SELECT id, lower(period), upper(period), driver, purpose, approver, COALESCE(fence_id, 0)
		FROM alert_approvals WHERE id = ANY($1)`, []any{approvals}, func(row pgx.CollectableRow) error {
		var a approvalRefJSON
		var start, end time.Time
		err := row.Scan(&a.ID, &start, &end, &a.Driver, &a.Purpose, &a.Approver, &a.FenceID)
		a.Start, a.End = formatTime(start), formatTime(end)
		apps[a.ID] = &a
		return err
	}); err != nil {
		return fmt.Errorf("%d approvals: %w", len(approvals), err)
	}
	calRefs := map[int64]calendarRefJSON{}
	if err := s.queryEach(ctx, `SELECT c.id, c.revision, COALESCE(c.unit_id, 0), COALESCE(unit_path(c.unit_id), '')
		FROM alert_calendars c WHERE c.id = ANY($1)`, []any{cals}, func(row pgx.CollectableRow) error {
		var c calendarRefJSON
		err := row.Scan(&c.ID, &c.CurrentRevision, &c.UnitID, &c.Unit)
		c.Default = c.UnitID == 0
		calRefs[c.ID] = c
		return err
	}); err != nil {
		return fmt.Errorf("%d calendars: %w", len(cals), err)
	}
	at := make(map[string]int, len(out))
	for i := range out {
		a := &out[i]
		at[a.ID] = i
		a.FenceName = names[a.FenceID]
		a.Approval = apps[a.ApprovalID]
		if a.Calendar != nil {
			if c, ok := calRefs[a.Calendar.ID]; ok {
				c.Revision = a.Calendar.Revision
				*a.Calendar = c
			}
		}
	}
	err := s.queryEach(ctx, `SELECT episode_id, id, recorded_at, actor_name, body, COALESCE(file_name, ''), COALESCE(content_type, ''),
			COALESCE(octet_length(content), 0), COALESCE(encode(sha256, 'hex'), '')
		FROM alert_explanations WHERE episode_id = ANY($1) ORDER BY id`, []any{ids}, func(row pgx.CollectableRow) error {
		var ep string
		var e explanationJSON
		var when time.Time
		err := row.Scan(&ep, &e.ID, &when, &e.User, &e.Text, &e.FileName, &e.ContentType, &e.Size, &e.SHA256)
		e.At = formatTime(when)
		if i, ok := at[ep]; ok {
			out[i].Explanations = append(out[i].Explanations, e)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("explanations of %d alerts: %w", len(ids), err)
	}
	return nil
}

// queryEach runs sql and calls fn for each row.
func (s *Server) queryEach(ctx context.Context, sql string, args []any, fn func(pgx.CollectableRow) error) error {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) { return struct{}{}, fn(row) })
	return err
}
