package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// cst is China Standard Time (GMT+8), the offset every time is shown in.
var cst = time.FixedZone("CST", 8*3600)

func formatTime(t time.Time) string { return t.In(cst).Format(time.RFC3339) }

// formatMillis is formatTime to the millisecond; "" for the zero time.
func formatMillis(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format("2006-01-02T15:04:05.000Z07:00")
}

// allow answers 403 unless the caller has one of roles.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, roles ...Role) bool {
	if slices.Contains(roles, principal(r).Role) {
		return true
	}
	writeError(w, r, http.StatusForbidden, "forbidden", "your role may not do this")
	return false
}

// maxPeriod bounds a track or audit period: a year (366 days).
const maxPeriod = 366 * 24 * time.Hour

// period reads ?from= and ?to= (RFC 3339); required makes both mandatory.
func period(w http.ResponseWriter, r *http.Request, required bool) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			if required {
				writeError(w, r, http.StatusBadRequest, "bad_request", name+": required (RFC 3339, e.g. 2026-11-20T08:00:00+08:00)")
				return time.Time{}, false
			}
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "bad_request", name+": want RFC 3339, e.g. 2026-11-20T08:00:00+08:00")
			return time.Time{}, false
		}
		return t, true
	}
	if from, ok = parse("from"); !ok {
		return
	}
	if to, ok = parse("to"); !ok {
		return
	}
	if required && (!to.After(from) || to.Sub(from) > maxPeriod) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "period: want from before to, at most 366 days apart")
		return from, to, false
	}
	return from, to, true
}

func list[T any](w http.ResponseWriter, items []T, total, limit, offset int) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "limit": limit, "offset": offset})
}

// Units.

type unitJSON struct {
	ID       int64  `json:"id"`
	ParentID int64  `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	Path     string `json:"path"`
}

func toUnitJSON(u track.Unit) unitJSON {
	return unitJSON{ID: u.ID, ParentID: u.ParentID, Name: u.Name, Path: u.Path}
}

func (s *Server) listUnits(w http.ResponseWriter, r *http.Request) {
	us, err := s.store.Units(r.Context(), principal(r).Scope())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]unitJSON, len(us))
	for i, u := range us {
		items[i] = toUnitJSON(u)
	}
	list(w, items, len(items), len(items), 0)
}

func (s *Server) createUnit(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	var req struct {
		ParentID int64  `json:"parent_id"`
		Name     string `json:"name"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	u, err := s.store.CreateUnit(r.Context(), principal(r).Scope(), req.ParentID, req.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "unit.create", SubjectUnitID: u.ID, Detail: map[string]any{"path": u.Path}}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toUnitJSON(u))
}

func (s *Server) updateUnit(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req struct {
		Name     *string `json:"name"`
		ParentID *int64  `json:"parent_id"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	sc := principal(r).Scope()
	before, err := s.store.UnitIn(r.Context(), sc, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u := before
	if req.Name != nil {
		if u, err = s.store.RenameUnit(r.Context(), sc, id, *req.Name); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if req.ParentID != nil {
		if u, err = s.store.MoveUnit(r.Context(), sc, id, *req.ParentID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.audit(r, Entry{Action: "unit.update", SubjectUnitID: u.ID,
		Detail: map[string]any{"before": before.Path, "after": u.Path}}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUnitJSON(u))
}

// importUnits creates the units named in a CSV body: one path per line (first
// column), an optional header "path". Administrators at the top only.
func (s *Server) importUnits(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin) {
		return
	}
	if principal(r).UnitID != 0 {
		writeError(w, r, http.StatusForbidden, "forbidden", "only an administrator at the top imports units")
		return
	}
	cr := csv.NewReader(r.Body)
	cr.FieldsPerRecord = -1
	var paths [][]string
	var errs []string
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
				return
			}
			errs = append(errs, err.Error())
			break
		}
		p := strings.TrimPrefix(strings.TrimSpace(rec[0]), "\ufeff")
		if line == 1 && strings.EqualFold(p, "path") {
			continue
		}
		var names []string
		for _, n := range strings.Split(p, "/") {
			n = strings.TrimSpace(n)
			if n == "" || !utf8.ValidString(n) {
				errs = append(errs, fmt.Sprintf("line %d: %q is not a path of unit names such as 湖北省/黄石市", line, p))
				names = nil
				break
			}
			names = append(names, n)
		}
		if names != nil {
			paths = append(paths, names)
		}
	}
	if len(errs) > 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "nothing imported: "+strings.Join(errs, "; "))
		return
	}
	n, err := s.store.ImportUnits(r.Context(), paths)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "unit.import", Detail: map[string]any{"paths": len(paths), "units": n}}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"paths": len(paths), "units": n})
}

// Users.

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
		_, err := tx.Exec(r.Context(), "UPDATE users SET password_hash = $2, must_change = true, password_changed_at = $3 WHERE id = $1",
			u.ID, hashPassword(otp, s.cfg.KDF), s.cfg.Now())
		return map[string]any{"one_time_password": otp}, err
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
	err = pgx.BeginFunc(r.Context(), s.pool, func(tx pgx.Tx) error {
		var err error
		if out, err = change(tx, u); err != nil {
			return err
		}
		if _, err := tx.Exec(r.Context(), "DELETE FROM sessions WHERE user_id = $1", u.ID); err != nil {
			return err
		}
		return appendAudit(r.Context(), tx, s.cfg.Now(), principal(r), remoteAddr(r), Entry{Action: action, SubjectUnitID: u.UnitID,
			Detail: map[string]any{"user": u.Name}})
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

// Vehicles.

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
	if v := q.Get("unit_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "unit_id: want a unit id")
			return
		}
		f.UnitID = n
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
	v, err := s.store.CreateVehicle(r.Context(), principal(r).Scope(), *c.Plate, color, cat, *c.UnitID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "vehicle.create", VehicleID: v.ID, SubjectUnitID: v.UnitID,
		Detail: map[string]any{"after": toVehicleJSON(v)}}); err != nil {
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

func (s *Server) sealVehicle(sealed bool) http.HandlerFunc {
	action := "vehicle.unseal"
	if sealed {
		action = "vehicle.seal"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
			return
		}
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		s.applyVehicleChange(w, r, id, action, track.VehicleChange{Sealed: &sealed})
	}
}

func (s *Server) applyVehicleChange(w http.ResponseWriter, r *http.Request, id int64, action string, c track.VehicleChange) {
	before, after, err := s.store.UpdateVehicle(r.Context(), principal(r).Scope(), id, c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: action, VehicleID: id, SubjectUnitID: after.UnitID,
		Detail: map[string]any{"before": toVehicleJSON(before), "after": toVehicleJSON(after)}}); err != nil {
		s.fail(w, r, err)
		return
	}
	// A seal, category or unit changes how the rules judge the vehicle.
	s.reload(r)
	if s.cfg.Live != nil && before.Sealed != after.Sealed {
		s.cfg.Live.SetSealed(id, after.Sealed)
	}
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
	before, err := s.store.VehicleIn(r.Context(), principal(r).Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.store.BindTerminal(r.Context(), principal(r).Scope(), id, phone)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.audit(r, Entry{Action: "vehicle.bind_terminal", VehicleID: id, SubjectUnitID: v.UnitID,
		Detail: map[string]any{"before": before.TerminalPhone, "after": v.TerminalPhone}}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toVehicleJSON(v))
}

// Terminals and positions.

type terminalJSON struct {
	ID              int64   `json:"id"`
	Phone           string  `json:"phone"`
	VehicleID       int64   `json:"vehicle_id,omitempty"`
	Plate           string  `json:"plate,omitempty"`
	ProtocolVersion int     `json:"protocol_version,omitempty"`
	Maker           string  `json:"maker"`
	Model           string  `json:"model"`
	LastSeenAt      *string `json:"last_seen_at"`
}

func toTerminalJSON(t track.TerminalInfo) terminalJSON {
	j := terminalJSON{ID: t.ID, Phone: t.Phone, VehicleID: t.VehicleID, Plate: t.Plate, ProtocolVersion: t.ProtocolVersion,
		Maker: t.Maker, Model: t.Model}
	if !t.LastSeen.IsZero() {
		s := formatTime(t.LastSeen)
		j.LastSeenAt = &s
	}
	return j
}

func (s *Server) listTerminals(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	ts, total, err := s.store.TerminalsIn(r.Context(), principal(r).Scope(), "", limit, offset)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]terminalJSON, len(ts))
	for i, t := range ts {
		items[i] = toTerminalJSON(t)
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
	writeJSON(w, http.StatusOK, toTerminalJSON(ts[0]))
}

type positionJSON struct {
	VehicleID int64   `json:"vehicle_id"`
	Plate     string  `json:"plate"`
	Time      string  `json:"time"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	SpeedKmh  float32 `json:"speed_kmh"`
	Heading   int16   `json:"heading"`
	Alarm     uint32  `json:"alarm"`
	Status    uint32  `json:"status"`
}

func (s *Server) listPositions(w http.ResponseWriter, r *http.Request) {
	limit, offset, ok := page(w, r)
	if !ok {
		return
	}
	ss, total, err := s.store.LatestIn(r.Context(), principal(r).Scope(), limit, offset)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]positionJSON, len(ss))
	for i, st := range ss {
		items[i] = positionJSON{VehicleID: st.VehicleID, Plate: st.Plate, Time: formatTime(st.Time), Lat: st.Lat, Lon: st.Lon,
			SpeedKmh: st.SpeedKmh, Heading: st.Heading, Alarm: st.Alarm, Status: st.Status}
	}
	list(w, items, total, limit, offset)
}

// Tracks.

// feature is one GeoJSON point of a track, reused for every row.
type feature struct {
	Type     string `json:"type"`
	Geometry struct {
		Type        string     `json:"type"`
		Coordinates [2]float64 `json:"coordinates"`
	} `json:"geometry"`
	Properties struct {
		Time     string  `json:"time"`
		SpeedKmh float32 `json:"speed_kmh"`
		Heading  int16   `json:"heading"`
		Alarm    uint32  `json:"alarm"`
		Status   uint32  `json:"status"`
		Backfill bool    `json:"backfill"`
	} `json:"properties"`
}

// maxReason bounds the reason given for a track view (characters).
const maxReason = 500

// reasonOf returns the request's ?reason=, or answers 400 when it is too
// long, or missing where one is required: of inspectors always, and of
// everyone when reasonAlways.
func reasonOf(w http.ResponseWriter, r *http.Request, reasonAlways bool) (string, bool) {
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if utf8.RuneCountInString(reason) > maxReason {
		writeError(w, r, http.StatusBadRequest, "bad_request", "reason: at most 500 characters")
		return "", false
	}
	if reason == "" && (principal(r).Role == RoleInspector || reasonAlways) {
		writeError(w, r, http.StatusBadRequest, "reason_required", "give the reason for viewing this history in ?reason=")
		return "", false
	}
	return reason, true
}

// trackRequest is the start of every request for a vehicle's history: the
// vehicle within the caller's jurisdiction, the period (?from=&to=), the
// reason (?reason=: required of inspectors, and of everyone when
// reasonAlways), and the audit entry for action, written before anything
// of the track is sent.
func (s *Server) trackRequest(w http.ResponseWriter, r *http.Request, action string, reasonAlways bool) (track.Vehicle, time.Time, time.Time, bool) {
	p := principal(r)
	id, ok := pathID(w, r)
	if !ok {
		return track.Vehicle{}, time.Time{}, time.Time{}, false
	}
	v, err := s.store.VehicleIn(r.Context(), p.Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return v, time.Time{}, time.Time{}, false
	}
	from, to, ok := period(w, r, true)
	if !ok {
		return v, from, to, false
	}
	reason, ok := reasonOf(w, r, reasonAlways)
	if !ok {
		return v, from, to, false
	}
	if err := s.audit(r, Entry{Action: action, VehicleID: v.ID, SubjectUnitID: v.UnitID, From: from, To: to, Reason: reason,
		Detail: map[string]any{"plate": v.Plate}}); err != nil {
		s.fail(w, r, err)
		return v, from, to, false
	}
	return v, from, to, true
}

// vehicleTrack streams every stored point of a period as a GeoJSON
// FeatureCollection, after recording the view (or, with ?download=true, the
// export) in the audit log. Inspectors must give ?reason=.
func (s *Server) vehicleTrack(w http.ResponseWriter, r *http.Request) {
	export, _ := strconv.ParseBool(r.URL.Query().Get("download"))
	action := "track.view"
	if export {
		action = "track.export"
	}
	v, from, to, ok := s.trackRequest(w, r, action, false)
	if !ok {
		return
	}
	// A long period streams for longer than the server's write timeout
	// allows a normal answer; ten minutes is ample for a year of points.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Minute))
	w.Header().Set("Content-Type", "application/geo+json")
	if export {
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="track-%d-%s.geojson"`, v.ID, from.In(cst).Format("20060102T150405")))
	}
	head, _ := json.Marshal(map[string]any{"vehicle_id": v.ID, "plate": v.Plate, "from": formatTime(from), "to": formatTime(to)})
	_, _ = fmt.Fprintf(w, `{"type":"FeatureCollection","properties":%s,"features":[`, head)
	enc := json.NewEncoder(w)
	var f feature
	f.Type, f.Geometry.Type = "Feature", "Point"
	_, err := s.store.Track(r.Context(), v.ID, from, to, func(pt *track.TrackPoint) error {
		if first := f.Properties.Time == ""; !first {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		f.Geometry.Coordinates = [2]float64{pt.Lon, pt.Lat}
		f.Properties.Time = formatTime(pt.Time)
		f.Properties.SpeedKmh, f.Properties.Heading = pt.SpeedKmh, pt.Heading
		f.Properties.Alarm, f.Properties.Status, f.Properties.Backfill = pt.Alarm, pt.Status, pt.Backfill
		return enc.Encode(&f)
	})
	if err != nil {
		// The status is sent: cut the response short so the client sees a
		// broken document, not a complete-looking partial track.
		s.log.Error("api: stream track", "request_id", requestID(r), "vehicle", v.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
	_, _ = io.WriteString(w, "]}\n")
}
