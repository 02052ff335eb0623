package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// maxTipSkew is how far ahead of the server's clock a tip's reception
// time may be: a clerk's clock a little fast, not a tip from tomorrow.
const maxTipSkew = 10 * time.Minute

// tipRequest is a tip as registered (POST /api/v1/tips).
type tipRequest struct {
	// Key is the client's idempotency key: a registration retried with the
	// same key (and the same content) returns the tip made the first time.
	Key          string    `json:"key"`
	ReceivedAt   time.Time `json:"received_at"`
	Channel      string    `json:"channel"`
	CallerNumber string    `json:"caller_number"`
	Content      string    `json:"content"`
	// Plate is the plate named; PlateUnsure when the caller was not sure
	// (then every official car of UnitID's subtree is searched).
	Plate       string `json:"plate"`
	PlateUnsure bool   `json:"plate_unsure"`
	UnitID      int64  `json:"unit_id"`
	// From and To are the time alleged; PlaceText the address as told,
	// Area (a GeoJSON geometry; a Point with RadiusM is a circle) or
	// FenceID the place drawn or chosen.
	From      time.Time       `json:"from"`
	To        time.Time       `json:"to"`
	PlaceText string          `json:"place_text"`
	Area      json.RawMessage `json:"area"`
	RadiusM   float64         `json:"radius_m"`
	FenceID   int64           `json:"fence_id"`
}

// check names the first thing wrong with the request, in the client's
// terms.
func (q *tipRequest) check(now time.Time) string {
	q.Content, q.Plate, q.PlaceText = strings.TrimSpace(q.Content), strings.TrimSpace(q.Plate), strings.TrimSpace(q.PlaceText)
	q.CallerNumber = strings.TrimSpace(q.CallerNumber)
	switch {
	case !tipKeyRe.MatchString(q.Key):
		return "key: want 8 to 64 letters, digits, _ or - (a fresh one per tip, the same one on a retry)"
	case q.ReceivedAt.IsZero():
		return "received_at: required (RFC 3339)"
	case !slices.Contains(tipChannels, q.Channel):
		return "channel: want phone, letter, web or hotline_12345"
	case !callerRe.MatchString(q.CallerNumber):
		return "caller_number: want at most 20 digits (with +, - or spaces)"
	case q.Content == "":
		return "content: required"
	case utf8.RuneCountInString(q.Content) > maxTipText:
		return fmt.Sprintf("content: at most %d characters", maxTipText)
	case q.Plate == "" && !q.PlateUnsure:
		return "plate: required, or plate_unsure true"
	case q.Plate != "" && q.PlateUnsure:
		return "plate: leave it empty when plate_unsure is true"
	case utf8.RuneCountInString(q.Plate) > 16:
		return "plate: want 1 to 16 characters"
	case q.ReceivedAt.After(now.Add(maxTipSkew)):
		return "received_at: want a time not in the future"
	case q.From.IsZero() || q.To.IsZero():
		return "from, to: required, the time alleged (RFC 3339)"
	case !q.To.After(q.From) || q.To.Sub(q.From) > maxTipPeriod:
		return "from, to: want from before to, at most 7 days apart"
	case !q.From.Before(q.ReceivedAt):
		return "from: want a time before the tip was received"
	case utf8.RuneCountInString(q.PlaceText) > 500:
		return "place_text: at most 500 characters"
	case len(q.Area) > 0 && q.FenceID != 0:
		return "area, fence_id: give one of them"
	case q.PlaceText == "" && len(q.Area) == 0 && q.FenceID == 0:
		return "place_text, area or fence_id: say where the car was alleged to be"
	case q.RadiusM < 0 || q.RadiusM > areaSearchMaxRadiusM:
		return "radius_m: want 0 to 50000"
	case q.RadiusM > 0 && len(q.Area) == 0:
		return "radius_m: only with area"
	}
	return ""
}

// createTip serves POST /api/v1/tips (inspectors): the tip is recorded,
// with its registration as its first step, and audited (the caller's
// number masked in the entry).
func (s *Server) createTip(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleInspector) {
		return
	}
	var req tipRequest
	if !s.decode(w, r, &req) {
		return
	}
	if msg := req.check(s.cfg.Now()); msg != "" {
		writeError(w, r, http.StatusBadRequest, "bad_request", msg)
		return
	}
	hash := requestHash(req)
	if id, ok := s.retriedTip(w, r, req.Key, hash); !ok || id != 0 {
		return
	}
	ctx := r.Context()
	p := principal(r)
	sc := p.Scope()
	unitID, vehicleID := req.UnitID, int64(0)
	if req.Plate != "" {
		vs, _, err := s.store.VehiclesIn(ctx, sc, track.VehicleFilter{Plate: req.Plate, Limit: 50})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// A plate the fleet does not know (misheard, or a car of another
		// jurisdiction) is kept as told; the answer then searches every car.
		if i := slices.IndexFunc(vs, func(v track.Vehicle) bool { return v.Plate == req.Plate }); i >= 0 {
			vehicleID, unitID = vs[i].ID, vs[i].UnitID
		}
	}
	if unitID == 0 {
		unitID = p.UnitID
	}
	if _, err := s.store.UnitIn(ctx, sc, unitID); err != nil {
		if errors.Is(err, track.ErrNotFound) {
			writeError(w, r, http.StatusBadRequest, "bad_request", "unit_id: no such unit in your jurisdiction")
			return
		}
		s.fail(w, r, err)
		return
	}
	if req.FenceID != 0 {
		f, _, err := s.alerts.FenceArea(ctx, req.FenceID)
		ok := err == nil
		if ok {
			ok, err = s.fenceInScope(ctx, sc, &f)
		}
		if err != nil && !errors.Is(err, track.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
		if !ok {
			writeError(w, r, http.StatusBadRequest, "bad_request", "fence_id: no such fence in your jurisdiction")
			return
		}
	}
	if len(req.Area) > 0 {
		if err := s.store.CheckArea(ctx, track.Area{GeoJSON: string(req.Area), BufferM: req.RadiusM}); err != nil {
			if errors.Is(err, track.ErrBadArea) {
				writeError(w, r, http.StatusBadRequest, "bad_area",
					"area: want a GeoJSON Polygon or MultiPolygon, or a Point with radius_m, in WGS 84 longitude and latitude")
				return
			}
			s.fail(w, r, err)
			return
		}
	}
	now := s.cfg.Now()
	var id int64
	err := s.change(r, func(c changeTx) (Entry, error) {
		err := c.tx.QueryRow(ctx, `INSERT INTO tips (client_key, request_hash, unit_id, vehicle_id, plate_text, received_at, channel,
				caller_number, content, alleged_from, alleged_to, place_text, area_geojson, radius_m, fence_id, created_by, created_by_name,
				created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18)
			ON CONFLICT (client_key) DO NOTHING RETURNING id`,
			req.Key, hash, unitID, nullID(vehicleID), req.Plate, req.ReceivedAt, req.Channel, req.CallerNumber, req.Content, req.From, req.To,
			req.PlaceText, nullString(string(req.Area)), req.RadiusM, nullID(req.FenceID), p.ID, p.Name, now).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return Entry{}, errTipRetry // the same key, committed meanwhile
		}
		if err != nil {
			return Entry{}, fmt.Errorf("insert tip: %w", err)
		}
		if _, err := c.tx.Exec(ctx, `INSERT INTO tip_events (tip_id, client_key, action, from_state, to_state, detail, actor_id, actor_name, at)
			VALUES ($1, $2, 'register', '', 'registered', $3, $4, $5, $6)`, id, req.Key,
			map[string]any{"unit_id": unitID, "vehicle_id": vehicleID}, p.ID, p.Name, now); err != nil {
			return Entry{}, fmt.Errorf("insert tip registration: %w", err)
		}
		return Entry{Action: "tip.register", VehicleID: vehicleID, SubjectUnitID: unitID, From: req.From, To: req.To,
			Detail: map[string]any{"tip_id": id, "channel": req.Channel, "caller_number": maskCaller(req.CallerNumber), "plate": req.Plate}}, nil
	})
	if errors.Is(err, errTipRetry) {
		s.retriedTip(w, r, req.Key, hash)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.tipIn(ctx, s.pool, sc, id, false)
	if err == nil {
		t.Events, err = s.tipEvents(ctx, id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t.tipJSON)
}

// retriedTip answers a registration whose key is taken: with the tip made
// then (200) when the request is the same, or 409. It returns the tip's id
// (0 when the key is new) and false when it answered an error.
func (s *Server) retriedTip(w http.ResponseWriter, r *http.Request, key string, hash []byte) (int64, bool) {
	var id int64
	var was []byte
	err := s.pool.QueryRow(r.Context(), `SELECT id, request_hash FROM tips WHERE client_key = $1`, key).Scan(&id, &was)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, true
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("look up tip key: %w", err))
		return 0, false
	}
	if !bytes.Equal(was, hash) {
		writeError(w, r, http.StatusConflict, "key_reused", "key: already used for a different tip: make a fresh key for each tip")
		return 0, false
	}
	t, err := s.tipIn(r.Context(), s.pool, principal(r).Scope(), id, false)
	if err == nil {
		t.Events, err = s.tipEvents(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return 0, false
	}
	writeJSON(w, http.StatusOK, t.tipJSON)
	return id, true
}
