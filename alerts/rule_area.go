package alerts

import (
	"math"

	"fleetmon/track"
)

// The out-of-area rule (越界): a car beyond its unit's permitted area, the
// nearest one set for the vehicle or up its unit chain.

// AreaParams debounce 越界 by time and distance, not by a count of fixes,
// so that the verdict does not depend on how often the terminal reports:
// the car is out once it has stayed more than MarginM beyond the
// permitted area's border for Outside, or (when OutsideDistanceM is set)
// has got OutsideDistanceM from where it was first seen that far out;
// back in after the same inside. The episode runs from the first fix
// beyond the border to the first fix back inside it.
type AreaParams struct {
	Outside          Duration         `json:"outside"`
	OutsideDistanceM float64          `json:"outside_distance_m"`
	MarginM          float64          `json:"margin_m"`
	Exempt           []track.Category `json:"exempt,omitempty"`
}

// AreaState is the debounced inside/outside state for the permitted area.
type AreaState struct {
	Out bool `json:"out"`
	// Count is the number of fixes in the current run clearly across the
	// border, and Clear the first of them.
	Count int  `json:"count"`
	Clear *Fix `json:"clear,omitempty"`
	// Cross is the first fix across the border since the last fix on the
	// side the state is on.
	Cross *Fix `json:"cross,omitempty"`
	// Cache is a fix whose signed distance CacheD is known: a later fix
	// within m metres of it is within CacheD ± m.
	Cache  *Fix     `json:"cache,omitempty"`
	CacheD float64  `json:"cache_d"`
	Ep     *Episode `json:"ep,omitempty"`
}

// area runs 越界 with its debounce.
func (v *vehicle) area(f Fix) {
	a := &v.st.Area
	if len(v.permitted) == 0 || !v.enabled(RuleOutOfArea) {
		if a.Ep != nil {
			v.closeEp(a.Ep, f.Time, f)
		}
		*a = AreaState{}
		return
	}
	P := v.par.Area
	// Bound the signed distance from the cached one before computing it.
	lo, hi := math.Inf(-1), math.Inf(1)
	if a.Cache != nil {
		m := DistanceM(a.Cache.Lat, a.Cache.Lon, f.Lat, f.Lon)
		lo, hi = a.CacheD-m, a.CacheD+m
	}
	if !(lo > P.MarginM || hi < -P.MarginM) {
		sd := math.Inf(1)
		for _, c := range v.permitted {
			sd = math.Min(sd, c.signedDistM(f.Lat, f.Lon))
		}
		lo, hi = sd, sd
		ff := f
		a.Cache, a.CacheD = &ff, sd
	}
	beyond := lo > 0 // outside the border
	if !a.Out {
		if cross, ok := a.debounce(f, !beyond && hi <= 0, beyond, lo > P.MarginM, &P); ok {
			a.Ep = newEpisode(RuleOutOfArea, cross, cross.Time)
			v.emit(a.Ep, EpisodeOpen)
		}
		return
	}
	if a.Ep != nil {
		a.Ep.MaxSpeedKmh = max(a.Ep.MaxSpeedKmh, f.SpeedKmh)
	}
	if back, ok := a.debounce(f, beyond, hi <= 0, hi < -P.MarginM, &P); ok {
		if a.Ep != nil {
			v.closeEp(a.Ep, back.Time, back)
		}
		a.Ep = nil
	}
}

// debounce takes the state one fix towards the other side of the border:
// stay says f is surely on the side the state is on, crossed that it is
// across the border, clear that it is across by more than the margin.
// Once the clear fixes in a row span P.Outside (or reach
// P.OutsideDistanceM from the first of them) the state flips, and
// debounce returns the fix the crossing began at (the first one across
// since the last on the state's side) and true.
func (a *AreaState) debounce(f Fix, stay, crossed, clear bool, P *AreaParams) (Fix, bool) {
	if stay {
		a.Cross = nil
	} else if crossed && a.Cross == nil {
		ff := f
		a.Cross = &ff
	}
	if !clear {
		a.Count, a.Clear = 0, nil
		return Fix{}, false
	}
	a.Count++
	if a.Clear == nil {
		ff := f
		a.Clear = &ff
	}
	far := P.OutsideDistanceM > 0 && DistanceM(a.Clear.Lat, a.Clear.Lon, f.Lat, f.Lon) >= P.OutsideDistanceM
	if f.Time.Sub(a.Clear.Time) < P.Outside.D() && !far {
		return Fix{}, false
	}
	at := f
	if a.Cross != nil {
		at = *a.Cross
	}
	a.Out, a.Count, a.Cross, a.Clear = !a.Out, 0, nil, nil
	return at, true
}
