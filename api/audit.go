package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Entry is one audit log entry's content; the time, actor and remote
// address are added by appendAudit.
type Entry struct {
	Action string
	// ActorName names the actor when there is no authenticated one (the
	// name attempted at a failed login).
	ActorName     string
	VehicleID     int64
	SubjectUnitID int64
	From, To      time.Time
	Reason        string
	Detail        map[string]any
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// appendAudit writes an entry. actor nil is the console (or, with
// e.ActorName, the unauthenticated name attempted).
func appendAudit(ctx context.Context, q execer, at time.Time, actor *Principal, remote string, e Entry) error {
	var actorID, actorUnit int64
	name := consoleActor
	if e.ActorName != "" {
		name = e.ActorName
	}
	if actor != nil {
		actorID, actorUnit, name = actor.ID, actor.UnitID, actor.Name
	}
	var detail any
	if e.Detail != nil {
		detail = e.Detail
	}
	_, err := q.Exec(ctx, `INSERT INTO audit_log (at, actor_id, actor_name, actor_unit_id, action, vehicle_id, subject_unit_id,
			period_from, period_to, reason, remote_addr, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		at, nullID(actorID), name, nullID(actorUnit), e.Action, nullID(e.VehicleID), nullID(e.SubjectUnitID),
		nullTime(e.From), nullTime(e.To), nullString(e.Reason), remote, detail)
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.Action, err)
	}
	return nil
}

// changeTx is a change in progress: its transaction, and the stores bound
// to it.
type changeTx struct {
	tx     pgx.Tx
	store  *track.Store
	alerts *alerts.Store
}

// errUnaudited refuses a change whose function gave no audit entry.
var errUnaudited = errors.New("a change without an audit entry")

// change runs fn, which makes a change through c's stores and returns its
// audit entry, and appends that entry in the same transaction: the change
// and its entry commit together or not at all, so that no change stands
// unaudited (and a failing audit write is the request's failure). An
// entry without an action refuses the change.
func (s *Server) change(r *http.Request, fn func(c changeTx) (Entry, error)) error {
	ctx := r.Context()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		e, err := fn(changeTx{tx: tx, store: s.store.InTx(tx), alerts: s.alerts.InTx(tx)})
		if err != nil {
			return err
		}
		if e.Action == "" {
			return errUnaudited
		}
		return appendAudit(ctx, tx, s.cfg.Now(), principal(r), remoteAddr(r), e)
	})
}

// auditFirst commits audit entries before the work they record: a read
// (a track view, an export, a search, a report) before anything of it is
// sent, or work that commits in transactions of its own (a re-evaluation
// applied by the rules engine). Its caller answers the error, and neither
// sends the data nor does the work, when they cannot be written.
func (s *Server) auditFirst(r *http.Request, entries ...Entry) error {
	ctx := r.Context()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, e := range entries {
			if err := appendAudit(ctx, tx, s.cfg.Now(), principal(r), remoteAddr(r), e); err != nil {
				return err
			}
		}
		return nil
	})
}

type auditJSON struct {
	ID         int64          `json:"id"`
	At         string         `json:"at"`
	User       string         `json:"user"`
	UserID     int64          `json:"user_id,omitempty"`
	Action     string         `json:"action"`
	VehicleID  int64          `json:"vehicle_id,omitempty"`
	UnitID     int64          `json:"unit_id,omitempty"`
	From       string         `json:"from,omitempty"`
	To         string         `json:"to,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	RemoteAddr string         `json:"remote_addr,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// listAudit serves GET /api/v1/audit to admins and inspectors: the entries
// by users in their subtree or about vehicles and units in it.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if !s.allow(w, r, RoleAdmin, RoleInspector) {
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	vehicle, ok := queryID(w, r, "vehicle")
	if !ok {
		return
	}
	from, to, ok := period(w, r, false)
	if !ok {
		return
	}
	rows, err := s.pool.Query(r.Context(), `SELECT a.id, a.at, a.actor_name, COALESCE(a.actor_id, 0), a.action, COALESCE(a.vehicle_id, 0),
			COALESCE(a.subject_unit_id, 0), a.period_from, a.period_to, COALESCE(a.reason, ''), a.remote_addr, a.detail, count(*) OVER ()
		FROM audit_log a
		WHERE ($1::bigint IS NULL
		       OR a.actor_unit_id IN (SELECT unit_subtree($1))
		       OR a.subject_unit_id IN (SELECT unit_subtree($1))
		       OR a.vehicle_id IN (SELECT id FROM vehicles WHERE unit_id IN (SELECT unit_subtree($1))))
		  AND ($2 = '' OR a.actor_name = $2)
		  AND ($3::bigint IS NULL OR a.vehicle_id = $3)
		  AND ($4::timestamptz IS NULL OR a.at >= $4)
		  AND ($5::timestamptz IS NULL OR a.at < $5)
		ORDER BY a.id DESC LIMIT $6 OFFSET $7`,
		p.Scope().SQLArg(), q.Get("user"), nullID(vehicle), nullTime(from), nullTime(to), limit, offset)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list audit: %w", err))
		return
	}
	total := 0
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auditJSON, error) {
		var a auditJSON
		var at time.Time
		var pf, pt *time.Time
		err := row.Scan(&a.ID, &at, &a.User, &a.UserID, &a.Action, &a.VehicleID, &a.UnitID, &pf, &pt, &a.Reason, &a.RemoteAddr, &a.Detail, &total)
		a.At = at.In(cst).Format(time.RFC3339)
		if pf != nil {
			a.From = pf.In(cst).Format(time.RFC3339)
		}
		if pt != nil {
			a.To = pt.In(cst).Format(time.RFC3339)
		}
		return a, err
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("list audit: %w", err))
		return
	}
	if items == nil {
		items = []auditJSON{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "limit": limit, "offset": offset})
}
