package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// Fuel-card reconciliation (加油卡核对): the station list, the cards bound
// to vehicles as a history, each vehicle's tank and norm, matching a
// month's fills against the tracks (package fuel), and, in fuel_leads.go
// and fuel_import.go, the leads, the monthly report and the statement
// import. Cards and specs are changed by administrators and supervisors in
// their units; the station list, shared by all, by administrators and
// inspectors; matching and the leads by whoever verifies alerts.

// fuelRoutes registers the fuel-card endpoints.
func (s *Server) fuelRoutes(p routeRecorder) {
	p.HandleFunc("POST /api/v1/fuel/stations/import", s.importStations)
	p.HandleFunc("GET /api/v1/fuel/stations", s.listStations)
	p.HandleFunc("GET /api/v1/fuel/cards", s.listCards)
	p.HandleFunc("POST /api/v1/fuel/cards", s.bindCard)
	p.HandleFunc("GET /api/v1/fuel/vehicles/{id}", s.getFuelSpec)
	p.HandleFunc("PUT /api/v1/fuel/vehicles/{id}", s.putFuelSpec)
	p.HandleFunc("POST /api/v1/fuel/transactions/import", s.importFills)
	p.HandleFunc("POST /api/v1/fuel/match", s.matchFills)
	s.fuelLeadRoutes(p)
}

// cardNo is a card number as the statements print it.
var cardNo = regexp.MustCompile(`^[0-9A-Za-z]{4,32}$`)

// fuelMonth reads ?month= (or the body's month), YYYY-MM in Beijing time,
// as [from, to). It answers the client itself on error.
func fuelMonth(w http.ResponseWriter, r *http.Request, v string) (time.Time, time.Time, bool) {
	t, err := time.ParseInLocation("2006-01", v, cst)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "month: want YYYY-MM")
		return t, t, false
	}
	return t, t.AddDate(0, 1, 0), true
}

// importStations serves POST /api/v1/fuel/stations/import: CSV
// name,lat,lon (or 名称,纬度,经度), WGS-84; a station already listed is
// moved to the coordinates given. All or nothing.
func (s *Server) importStations(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleInspector) {
		return
	}
	recs, bad, ok := s.readStatement(w, r)
	if !ok {
		return
	}
	cols, hbad := statementColumns(recs, stationHeaders, []string{"name", "lat", "lon"})
	bad = append(bad, hbad...)
	type station struct {
		name     string
		lat, lon float64
	}
	var sts []station
	seen := map[string]int{}
	for i, rec := range recs {
		if cols == nil || i == 0 || blankRecord(rec) {
			continue
		}
		line := i + 1
		st := station{name: cellOf(rec, cols["name"])}
		var err1, err2 error
		st.lat, err1 = parseFigure(cellOf(rec, cols["lat"]))
		st.lon, err2 = parseFigure(cellOf(rec, cols["lon"]))
		switch {
		case st.name == "" || !validText(st.name):
			bad = append(bad, lineError{Line: line, Message: "name: empty or not text"})
		case err1 != nil || err2 != nil || math.Abs(st.lat) > 90 || math.Abs(st.lon) > 180:
			bad = append(bad, lineError{Line: line, Message: "lat, lon: want WGS-84 degrees"})
		case seen[st.name] > 0:
			bad = append(bad, lineError{Line: line, Message: fmt.Sprintf("station listed again (line %d)", seen[st.name])})
		default:
			seen[st.name] = line
			sts = append(sts, st)
		}
	}
	if len(bad) == 0 && len(sts) == 0 {
		bad = append(bad, lineError{Message: "the file holds no station"})
	}
	if len(bad) > 0 {
		writeLineErrors(w, r, bad)
		return
	}
	changed := 0
	err := s.change(r, func(c changeTx) (Entry, error) {
		for _, st := range sts {
			tag, err := c.tx.Exec(r.Context(), `INSERT INTO fuel_stations (name, lat, lon) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET lat = excluded.lat, lon = excluded.lon, updated_at = now()
				WHERE (fuel_stations.lat, fuel_stations.lon) IS DISTINCT FROM (excluded.lat, excluded.lon)`, st.name, st.lat, st.lon)
			if err != nil {
				return Entry{}, fmt.Errorf("station %q: %w", st.name, err)
			}
			changed += int(tag.RowsAffected())
		}
		return Entry{Action: "fuel.stations_import", Detail: map[string]any{"stations": len(sts), "changed": changed}}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stations": len(sts), "changed": changed})
}

// listStations serves GET /api/v1/fuel/stations.
func (s *Server) listStations(w http.ResponseWriter, r *http.Request) {
	type stationJSON struct {
		ID   int64   `json:"id"`
		Name string  `json:"name"`
		Lat  float64 `json:"lat"`
		Lon  float64 `json:"lon"`
	}
	out := []stationJSON{}
	err := s.queryEach(r.Context(), `SELECT id, name, lat, lon FROM fuel_stations ORDER BY name`, nil, func(row pgx.CollectableRow) error {
		var st stationJSON
		err := row.Scan(&st.ID, &st.Name, &st.Lat, &st.Lon)
		out = append(out, st)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list(w, out, len(out), len(out), 0)
}

// cardJSON is one binding of a card's history.
type cardJSON struct {
	ID        int64  `json:"id"`
	Card      string `json:"card"`
	VehicleID int64  `json:"vehicle_id"`
	Plate     string `json:"plate"`
	From      string `json:"from"`
	To        string `json:"to,omitempty"`
}

// listCards serves GET /api/v1/fuel/cards (?vehicle=): the bindings of
// the vehicles in the caller's jurisdiction, newest first.
func (s *Server) listCards(w http.ResponseWriter, r *http.Request) {
	vid, ok := queryID(w, r, "vehicle")
	if !ok {
		return
	}
	var veh any
	if vid != 0 {
		veh = vid
	}
	out := []cardJSON{}
	err := s.queryEach(r.Context(), `SELECT c.id, c.card_no, c.vehicle_id, v.plate, c.valid_from, c.valid_to
		FROM fuel_cards c JOIN vehicles v ON v.id = c.vehicle_id
		WHERE v.unit_id IN (SELECT unit_subtree($1)) AND ($2::bigint IS NULL OR v.id = $2)
		ORDER BY c.card_no, c.valid_from DESC`, []any{principal(r).Scope().SQLArg(), veh}, func(row pgx.CollectableRow) error {
		var c cardJSON
		var from time.Time
		var to *time.Time
		err := row.Scan(&c.ID, &c.Card, &c.VehicleID, &c.Plate, &from, &to)
		c.From = formatTime(from)
		if to != nil {
			c.To = formatTime(*to)
		}
		out = append(out, c)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list(w, out, len(out), len(out), 0)
}

// bindCard serves POST /api/v1/fuel/cards {card, vehicle_id, from}: the
// card belongs to the vehicle from then on (一车一卡: the card's open
// binding and the vehicle's other open card are closed at that time).
// Binding a card again to the vehicle it is bound to changes nothing.
func (s *Server) bindCard(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	var req struct {
		Card      string `json:"card"`
		VehicleID int64  `json:"vehicle_id"`
		From      string `json:"from"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	if !cardNo.MatchString(req.Card) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "card: want 4 to 32 letters or digits")
		return
	}
	from, err := parseApprovalTime(req.From)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "from: want a time (RFC 3339, or 2006-01-02 15:04 in Beijing time)")
		return
	}
	sc := principal(r).Scope()
	v, err := s.store.VehicleIn(r.Context(), sc, req.VehicleID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	changed := false
	err = s.change(r, func(c changeTx) (Entry, error) {
		var cur int64
		var curFrom time.Time
		err := c.tx.QueryRow(r.Context(), `SELECT vehicle_id, valid_from FROM fuel_cards WHERE card_no = $1 AND valid_to IS NULL FOR UPDATE`, req.Card).Scan(&cur, &curFrom)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return Entry{}, fmt.Errorf("card %s: %w", req.Card, err)
		case cur == v.ID:
			return Entry{Action: "fuel.card_bind", VehicleID: v.ID, SubjectUnitID: v.UnitID,
				Detail: map[string]any{"card": req.Card, "plate": v.Plate, "unchanged": true}}, nil
		default:
			// Taking a card from a vehicle outside the jurisdiction is
			// not this caller's to do.
			if _, err := c.store.VehicleIn(r.Context(), sc, cur); err != nil {
				return Entry{}, track.ErrConflict
			}
			if !from.After(curFrom) {
				return Entry{}, track.ErrConflict
			}
		}
		if _, err := c.tx.Exec(r.Context(), `UPDATE fuel_cards SET valid_to = $3 WHERE valid_to IS NULL AND (card_no = $1 OR vehicle_id = $2) AND valid_from < $3`,
			req.Card, v.ID, from); err != nil {
			return Entry{}, fmt.Errorf("close bindings of card %s: %w", req.Card, err)
		}
		if _, err := c.tx.Exec(r.Context(), `INSERT INTO fuel_cards (card_no, vehicle_id, valid_from) VALUES ($1, $2, $3)`, req.Card, v.ID, from); err != nil {
			return Entry{}, fmt.Errorf("bind card %s: %w", req.Card, track.ErrConflict)
		}
		changed = true
		return Entry{Action: "fuel.card_bind", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: from,
			Detail: map[string]any{"card": req.Card, "plate": v.Plate, "previous_vehicle_id": cur}}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"card": req.Card, "vehicle_id": v.ID, "plate": v.Plate, "from": formatTime(from), "changed": changed})
}

// fuelSpecJSON is a vehicle's tank and consumption norm.
type fuelSpecJSON struct {
	VehicleID  int64   `json:"vehicle_id"`
	TankL      float64 `json:"tank_l"`
	NormL100km float64 `json:"norm_l_100km"`
}

// getFuelSpec serves GET /api/v1/fuel/vehicles/{id} (404 without a spec).
func (s *Server) getFuelSpec(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if _, err := s.store.VehicleIn(r.Context(), principal(r).Scope(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	sp := fuelSpecJSON{VehicleID: id}
	err := s.pool.QueryRow(r.Context(), `SELECT tank_l, norm_l_100km FROM fuel_vehicle_specs WHERE vehicle_id = $1`, id).Scan(&sp.TankL, &sp.NormL100km)
	if errors.Is(err, pgx.ErrNoRows) {
		err = track.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sp)
}

// putFuelSpec serves PUT /api/v1/fuel/vehicles/{id} {tank_l, norm_l_100km}.
func (s *Server) putFuelSpec(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var sp fuelSpecJSON
	if !s.decode(w, r, &sp) {
		return
	}
	if sp.TankL <= 0 || sp.TankL > 2000 || sp.NormL100km <= 0 || sp.NormL100km > 200 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "tank_l: want 0 to 2000 litres; norm_l_100km: want 0 to 200")
		return
	}
	v, err := s.store.VehicleIn(r.Context(), principal(r).Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sp.VehicleID = id
	err = s.change(r, func(c changeTx) (Entry, error) {
		_, err := c.tx.Exec(r.Context(), `INSERT INTO fuel_vehicle_specs (vehicle_id, tank_l, norm_l_100km) VALUES ($1, $2, $3)
			ON CONFLICT (vehicle_id) DO UPDATE SET tank_l = excluded.tank_l, norm_l_100km = excluded.norm_l_100km, updated_at = now()`,
			id, sp.TankL, sp.NormL100km)
		return Entry{Action: "fuel.vehicle_spec", VehicleID: id, SubjectUnitID: v.UnitID,
			Detail: map[string]any{"plate": v.Plate, "tank_l": sp.TankL, "norm_l_100km": sp.NormL100km}}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sp)
}

// matchFills serves POST /api/v1/fuel/match {month, vehicle_id}: the
// month's fills of the vehicles in the caller's jurisdiction (or the one
// vehicle) matched against their tracks. The run is audited before it
// starts; running it again finds the same leads.
func (s *Server) matchFills(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	var req struct {
		Month     string `json:"month"`
		VehicleID int64  `json:"vehicle_id"`
	}
	if !s.decode(w, r, &req) {
		return
	}
	from, to, ok := fuelMonth(w, r, req.Month)
	if !ok {
		return
	}
	p := principal(r)
	if req.VehicleID != 0 {
		if _, err := s.store.VehicleIn(r.Context(), p.Scope(), req.VehicleID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	cals, err := s.alerts.LoadCalendars(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auditFirst(r, Entry{Action: "fuel.match", VehicleID: req.VehicleID, SubjectUnitID: p.UnitID, From: from, To: to,
		Detail: map[string]any{"month": req.Month, "near_m": s.cfg.Fuel.WithDefaults().NearM}}); err != nil {
		s.fail(w, r, err)
		return
	}
	// A city's month reads every car's track: longer than an ordinary
	// request may take.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Minute))
	res, err := s.fuel.Run(r.Context(), p.Scope(), req.VehicleID, from, to, cals, s.cfg.Fuel)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Scope().Root != 0 {
		// Fills of cards bound to nobody belong to no unit: only those
		// who see every unit are told of them.
		res.Unbound = 0
	}
	writeJSON(w, http.StatusOK, res)
}
