package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"fleetmon/track"
)

// A vehicle's seal (封存) history: sealing and unsealing with the time it
// takes effect (past or future) and a reason, and the history itself. The
// rules judge each position by the seal periods covering its device time,
// so a seal recorded in the past changes what re-evaluating that past says
// (POST /api/v1/alerts/reevaluate), and the running engines take it up at
// once for what they judge next.

type sealEntryJSON struct {
	ID         int64  `json:"id"`
	Sealed     bool   `json:"sealed"`
	At         string `json:"at"`
	Reason     string `json:"reason"`
	User       string `json:"user"`
	UserID     int64  `json:"user_id,omitempty"`
	RecordedAt string `json:"recorded_at"`
}

func toSealEntryJSON(e track.SealEntry) sealEntryJSON {
	return sealEntryJSON{ID: e.ID, Sealed: e.Sealed, At: formatTime(e.At), Reason: e.Reason, User: e.ActorName,
		UserID: e.ActorID, RecordedAt: formatTime(e.RecordedAt)}
}

type sealPeriodJSON struct {
	From string `json:"from"`
	// To is empty while the vehicle stays sealed.
	To string `json:"to,omitempty"`
}

// sealResultJSON answers a seal or unseal: the vehicle as it is now, the
// entry that puts it in the state asked for at that time, and whether
// this request recorded it (false: it was so already).
type sealResultJSON struct {
	vehicleJSON
	Seal    *sealEntryJSON `json:"seal,omitempty"`
	Changed bool           `json:"changed"`
}

type sealRequest struct {
	// At is when the seal or unseal takes effect; empty: now.
	At     string `json:"at"`
	Reason string `json:"reason"`
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
		// The body is optional: without one the seal takes effect now.
		var req sealRequest
		if r.ContentLength != 0 && !s.decode(w, r, &req) {
			return
		}
		c, err := req.change(sealed, s.cfg.Now())
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		p := principal(r)
		c.ActorID, c.ActorName = p.ID, p.Name
		var before, after track.Vehicle
		var e track.SealEntry
		var changed bool
		err = s.change(r, func(tx changeTx) (Entry, error) {
			var err error
			if before, err = tx.store.VehicleIn(r.Context(), p.Scope(), id); err != nil {
				return Entry{}, err
			}
			if e, changed, err = tx.store.SetSeal(r.Context(), p.Scope(), id, c); err != nil {
				return Entry{}, err
			}
			if after, err = tx.store.VehicleIn(r.Context(), track.All, id); err != nil {
				return Entry{}, err
			}
			// A repeated request is audited too, as changing nothing.
			return Entry{Action: action, VehicleID: id, SubjectUnitID: after.UnitID, From: c.At, Reason: c.Reason,
				Detail: map[string]any{"at": formatTime(c.At), "changed": changed, "entry_id": e.ID}}, nil
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if changed {
			s.reload(r)
		}
		if s.cfg.Live != nil && before.Sealed != after.Sealed {
			s.cfg.Live.SetSealed(id, after.Sealed)
		}
		out := sealResultJSON{vehicleJSON: toVehicleJSON(after), Changed: changed}
		if e.ID != 0 {
			j := toSealEntryJSON(e)
			out.Seal = &j
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// change validates the request into a seal change effective at the time
// it names, or now.
func (req *sealRequest) change(sealed bool, now time.Time) (track.SealChange, error) {
	c := track.SealChange{Sealed: sealed, At: now, Reason: strings.TrimSpace(req.Reason)}
	if at := strings.TrimSpace(req.At); at != "" {
		t, err := track.ParseSealTime(at)
		if err != nil {
			return c, errors.New("at: " + err.Error())
		}
		c.At = t
	}
	if len([]rune(c.Reason)) > track.MaxSealReason {
		return c, track.ErrSealReason
	}
	return c, nil
}

// sealHistory serves GET /api/v1/vehicles/{id}/seals: every seal and
// unseal of a vehicle in scope, in the order they take effect, and the
// periods they make.
func (s *Server) sealHistory(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	p := principal(r)
	v, err := s.store.VehicleIn(r.Context(), p.Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	es, err := s.store.SealHistory(r.Context(), p.Scope(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items := make([]sealEntryJSON, len(es))
	for i, e := range es {
		items[i] = toSealEntryJSON(e)
	}
	periods := []sealPeriodJSON{}
	for _, sp := range track.SealPeriods(es) {
		pj := sealPeriodJSON{From: formatTime(sp.From)}
		if !sp.To.IsZero() {
			pj.To = formatTime(sp.To)
		}
		periods = append(periods, pj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"vehicle_id": v.ID, "sealed": v.Sealed, "items": items, "periods": periods})
}
