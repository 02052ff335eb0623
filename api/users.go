package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	rows, err := s.pool.Query(r.Context(), `SELECT `+userColumns+`, count(*) OVER () FROM users u
		WHERE $1::bigint IS NULL OR u.unit_id IN (SELECT unit_subtree($1))
		ORDER BY u.name LIMIT $2 OFFSET $3`, principal(r).Scope().SQLArg(), limit, offset)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	total := 0
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (userJSON, error) {
		u, err := scanUser(row, &total)
		return toUserJSON(u), err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list(w, items, total, limit, offset)
}

// userIn returns the user id if it is in the caller's jurisdiction.
func (s *Server) userIn(r *http.Request, id int64) (User, error) {
	u, err := scanUser(s.pool.QueryRow(r.Context(), `SELECT `+userColumns+` FROM users u
		WHERE u.id = $2 AND ($1::bigint IS NULL OR u.unit_id IN (SELECT unit_subtree($1)))`, principal(r).Scope().SQLArg(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, track.ErrNotFound
	}
	return u, err
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	var req struct {
		Name   string `json:"name"`
		Role   Role   `json:"role"`
		UnitID int64  `json:"unit_id"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	p := principal(r)
	if req.UnitID == 0 && p.UnitID != 0 {
		req.UnitID = p.UnitID
	}
	if req.UnitID != 0 {
		if _, err := s.store.UnitIn(r.Context(), p.Scope(), req.UnitID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	u, otp, err := s.acct.CreateUser(r.Context(), p, remoteAddr(r), req.Name, req.Role, req.UnitID)
	if errors.Is(err, ErrBadInput) {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"user": toUserJSON(u), "one_time_password": otp})
}

func (s *Server) disableUser(w http.ResponseWriter, r *http.Request) {
	s.changeUser(w, r, "user.disable", func(tx pgx.Tx, u User) (map[string]any, error) {
		_, err := tx.Exec(r.Context(), "UPDATE users SET disabled = true WHERE id = $1", u.ID)
		return nil, err
	})
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	s.changeUser(w, r, "user.reset_password", func(tx pgx.Tx, u User) (map[string]any, error) {
		otp := newOneTimePassword(u.Name)
		hashed, err := s.acct.hash.hash(r.Context(), otp)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(r.Context(), "UPDATE users SET password_hash = $2, must_change = true, password_changed_at = $3 WHERE id = $1",
			u.ID, hashed, s.cfg.Now()); err != nil {
			return nil, err
		}
		return map[string]any{"one_time_password": otp}, liftLockOut(r.Context(), tx, u.Name)
	})
}

// changeUser applies change to a user in the caller's jurisdiction, ends the
// user's sessions, and records action.
func (s *Server) changeUser(w http.ResponseWriter, r *http.Request, action string, change func(pgx.Tx, User) (map[string]any, error)) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	u, err := s.userIn(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out map[string]any
	err = s.change(r, func(c changeTx) (Entry, error) {
		var err error
		if out, err = change(c.tx, u); err != nil {
			return Entry{}, err
		}
		if _, err := c.tx.Exec(r.Context(), "DELETE FROM sessions WHERE user_id = $1", u.ID); err != nil {
			return Entry{}, err
		}
		return Entry{Action: action, SubjectUnitID: u.UnitID, Detail: map[string]any{"user": u.Name}}, nil
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("%s: %w", action, err))
		return
	}
	if u, err = s.userIn(r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	if out == nil {
		out = map[string]any{}
	}
	out["user"] = toUserJSON(u)
	writeJSON(w, http.StatusOK, out)
}
