package alerts

import (
	"math"

	"fleetmon/track"
)

// The out-of-area rule (越界): a car beyond its unit's permitted area, the
// nearest one set for the vehicle or up its unit chain.

// AreaParams debounce 越界: the car is out after Fixes consecutive fixes
// more than MarginM beyond the permitted area's border, back after Fixes
// consecutive fixes more than MarginM inside. The episode runs from the
// first fix beyond the border to the first fix back inside it.
type AreaParams struct {
	Fixes   int              `json:"fixes"`
	MarginM float64          `json:"margin_m"`
	Exempt  []track.Category `json:"exempt,omitempty"`
}

// AreaState is the debounced inside/outside state for the permitted area.
type AreaState struct {
	Out   bool `json:"out"`
	Count int  `json:"count"`
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
		if cross, ok := a.debounce(f, !beyond && hi <= 0, beyond, lo > P.MarginM, P.Fixes); ok {
			a.Ep = newEpisode(RuleOutOfArea, cross, cross.Time)
			v.emit(a.Ep, EpisodeOpen)
		}
		return
	}
	if a.Ep != nil {
		a.Ep.MaxSpeedKmh = max(a.Ep.MaxSpeedKmh, f.SpeedKmh)
	}
	if back, ok := a.debounce(f, beyond, hi <= 0, hi < -P.MarginM, P.Fixes); ok {
		if a.Ep != nil {
			v.closeEp(a.Ep, back.Time, back)
		}
		a.Ep = nil
	}
}

// debounce takes the state one fix towards the other side of the border:
// stay says f is surely on the side the state is on, crossed that it is
// across the border, clear that it is across by more than the margin.
// After fixes clear fixes in a row the state flips, and debounce returns
// the fix the crossing began at (the first one across since the last on
// the state's side) and true.
func (a *AreaState) debounce(f Fix, stay, crossed, clear bool, fixes int) (Fix, bool) {
	if stay {
		a.Cross = nil
	} else if crossed && a.Cross == nil {
		ff := f
		a.Cross = &ff
	}
	if clear {
		a.Count++
	} else {
		a.Count = 0
	}
	if a.Count < fixes {
		return Fix{}, false
	}
	at := f
	if a.Cross != nil {
		at = *a.Cross
	}
	a.Out, a.Count, a.Cross = !a.Out, 0, nil
	return at, true
}
