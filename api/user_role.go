package api

import (
	"errors"
	"fmt"
	"net/http"
)

// errOwnRole refuses an administrator's change of their own role: the last
// administrator of a jurisdiction must not be able to lock it out of its
// own administration by a slip.
var errOwnRole = errors.New("role: you may not change your own role")

// setUserRole serves POST /api/v1/users/{id}/role: an administrator gives a
// user of their jurisdiction another role, audited with the role before
// and after.
func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		Role Role `json:"role"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	u, err := s.userIn(r, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch _, valid := ParseRole(string(req.Role)); {
	case !valid:
		err = fmt.Errorf("role %q: want admin, supervisor, inspector or staff: %w", req.Role, ErrBadInput)
	case u.ID == principal(r).ID:
		err = errOwnRole
	case u.UnitID == 0 && req.Role != RoleAdmin:
		err = fmt.Errorf("a %s needs a unit: %w", req.Role, ErrBadInput)
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	err = s.change(r, func(c changeTx) (Entry, error) {
		_, err := c.tx.Exec(r.Context(), "UPDATE users SET role = $2 WHERE id = $1", u.ID, string(req.Role))
		return Entry{Action: "user.role", SubjectUnitID: u.UnitID,
			Detail: map[string]any{"user": u.Name, "before": u.Role, "after": req.Role}}, err
	})
	if err != nil {
		s.fail(w, r, fmt.Errorf("set the role of %s: %w", u.Name, err))
		return
	}
	if u, err = s.userIn(r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": toUserJSON(u)})
}
