package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"fleetmon/track"
)

type vehicleJSON struct {
	ID            int64  `json:"id"`
	Plate         string `json:"plate"`
	PlateColor    uint8  `json:"plate_color"`
	Category      string `json:"category"`
	UnitID        int64  `json:"unit_id"`
	Unit          string `json:"unit"`
	Sealed        bool   `json:"sealed"`
	TerminalPhone string `json:"terminal_phone"`
}

func toVehicleJSON(v track.Vehicle) vehicleJSON {
	return vehicleJSON{ID: v.ID, Plate: v.Plate, PlateColor: v.PlateColor, Category: string(v.Category),
		UnitID: v.UnitID, Unit: v.UnitPath, Sealed: v.Sealed, TerminalPhone: v.TerminalPhone}
}

func (s *Server) listVehicles(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := track.VehicleFilter{Plate: q.Get("plate"), Limit: limit, Offset: offset}
	if f.UnitID, ok = queryID(w, r, "unit_id"); !ok {
		return
	}
	if v := q.Get("category"); v != "" {
		c, ok := track.ParseCategory(v)
		if !ok {
			writeError(w, r, http.StatusBadRequest, "bad_request", "category: want general, confidential, emergency, enforcement or special")
			return
		}
		f.Category = c
	}
	if v := q.Get("sealed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "bad_request", "sealed: want true or false")
			return
		}
		f.Sealed = &b
	}
	vs, total, err := s.store.VehiclesIn(r.Context(), principal(r).Scope(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]vehicleJSON, len(vs))
	for i, v := range vs {
		items[i] = toVehicleJSON(v)
	}
	list(w, items, total, limit, offset)
}

func (s *Server) getVehicle(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	v, err := s.store.VehicleIn(r.Context(), principal(r).Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toVehicleJSON(v))
}

type vehicleRequest struct {
	Plate      *string `json:"plate"`
	PlateColor *uint8  `json:"plate_color"`
	Category   *string `json:"category"`
	UnitID     *int64  `json:"unit_id"`
}

// change validates the request into a track.VehicleChange.
func (req *vehicleRequest) change() (track.VehicleChange, error) {
	var c track.VehicleChange
	if req.Plate != nil {
		p := strings.TrimSpace(*req.Plate)
		if p == "" || utf8.RuneCountInString(p) > 16 {
			return c, errors.New("plate: want 1 to 16 characters")
		}
		c.Plate = &p
	}
	c.PlateColor = req.PlateColor
	if req.Category != nil {
		cat, ok := track.ParseCategory(*req.Category)
		if !ok {
			return c, errors.New("category: want general, confidential, emergency, enforcement or special")
		}
		c.Category = &cat
	}
	c.UnitID = req.UnitID
	return c, nil
}

func (s *Server) createVehicle(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	var req vehicleRequest
	if !s.decode(w, r, &req) {
		return
	}
	c, err := req.change()
	if err == nil && (c.Plate == nil || c.UnitID == nil) {
		err = errors.New("plate and unit_id are required")
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var color uint8
	if c.PlateColor != nil {
		color = *c.PlateColor
	}
	cat := track.CategoryGeneral
	if c.Category != nil {
		cat = *c.Category
	}
	var v track.Vehicle
	err = s.change(r, func(tx changeTx) (Entry, error) {
		var err error
		v, err = tx.store.CreateVehicle(r.Context(), principal(r).Scope(), *c.Plate, color, cat, *c.UnitID)
		return Entry{Action: "vehicle.create", VehicleID: v.ID, SubjectUnitID: v.UnitID,
			Detail: map[string]any{"after": toVehicleJSON(v)}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toVehicleJSON(v))
}

func (s *Server) updateVehicle(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req vehicleRequest
	if !s.decode(w, r, &req) {
		return
	}
	c, err := req.change()
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.applyVehicleChange(w, r, id, "vehicle.update", c)
}

func (s *Server) applyVehicleChange(w http.ResponseWriter, r *http.Request, id int64, action string, c track.VehicleChange) {
	var before, after track.Vehicle
	err := s.change(r, func(tx changeTx) (Entry, error) {
		var err error
		before, after, err = tx.store.UpdateVehicle(r.Context(), principal(r).Scope(), id, c)
		return Entry{Action: action, VehicleID: id, SubjectUnitID: after.UnitID,
			Detail: map[string]any{"before": toVehicleJSON(before), "after": toVehicleJSON(after)}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A category or unit changes how the rules judge the vehicle.
	s.reload(r)
	writeJSON(w, http.StatusOK, toVehicleJSON(after))
}

func (s *Server) bindTerminal(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		Phone string `json:"phone"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	phone, err := track.NormalizePhone(strings.TrimSpace(req.Phone))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var v track.Vehicle
	err = s.change(r, func(tx changeTx) (Entry, error) {
		before, err := tx.store.VehicleIn(r.Context(), principal(r).Scope(), id)
		if err != nil {
			return Entry{}, err
		}
		v, err = tx.store.BindTerminal(r.Context(), principal(r).Scope(), id, phone)
		return Entry{Action: "vehicle.bind_terminal", VehicleID: id, SubjectUnitID: v.UnitID,
			Detail: map[string]any{"before": before.TerminalPhone, "after": v.TerminalPhone}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toVehicleJSON(v))
}
