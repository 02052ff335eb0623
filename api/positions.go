package api

import "net/http"

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
