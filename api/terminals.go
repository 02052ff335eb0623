package api

import (
	"net/http"
	"strconv"
	"strings"

	"fleetmon/track"
)

type terminalJSON struct {
	ID              int64   `json:"id"`
	Phone           string  `json:"phone"`
	VehicleID       int64   `json:"vehicle_id,omitempty"`
	Plate           string  `json:"plate,omitempty"`
	ProtocolVersion int     `json:"protocol_version,omitempty"`
	Maker           string  `json:"maker"`
	Model           string  `json:"model"`
	LastSeenAt      *string `json:"last_seen_at"`
	// Online: the terminal reported within the time after which the live
	// map shows its vehicle offline.
	Online bool `json:"online"`
}

func (s *Server) toTerminalJSON(t track.TerminalInfo) terminalJSON {
	j := terminalJSON{ID: t.ID, Phone: t.Phone, VehicleID: t.VehicleID, Plate: t.Plate, ProtocolVersion: t.ProtocolVersion,
		Maker: t.Maker, Model: t.Model}
	if !t.LastSeen.IsZero() {
		s := formatTime(t.LastSeen)
		j.LastSeenAt = &s
	}
	offlineAfter := track.DefaultOfflineAfter
	if s.cfg.Live != nil {
		offlineAfter = s.cfg.Live.OfflineAfter()
	}
	j.Online = !t.LastSeen.IsZero() && s.cfg.Now().Sub(t.LastSeen) < offlineAfter
	return j
}

func (s *Server) listTerminals(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := track.TerminalFilter{Search: strings.TrimSpace(q.Get("q")), Limit: limit, Offset: offset}
	if v := q.Get("unbound"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "bad_request", "unbound: want true or false")
			return
		}
		f.Unbound = b
	}
	ts, total, err := s.store.TerminalsWhere(r.Context(), principal(r).Scope(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]terminalJSON, len(ts))
	for i, t := range ts {
		items[i] = s.toTerminalJSON(t)
	}
	list(w, items, total, limit, offset)
}

func (s *Server) getTerminal(w http.ResponseWriter, r *http.Request) {
	phone, err := track.NormalizePhone(r.PathValue("phone"))
	if err != nil {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return
	}
	ts, _, err := s.store.TerminalsIn(r.Context(), principal(r).Scope(), phone, 1, 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(ts) == 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return
	}
	writeJSON(w, http.StatusOK, s.toTerminalJSON(ts[0]))
}
