package alerts

import (
	"slices"
	"time"

	"fleetmon/track"
)

// The place rules: prohibited entry (禁入区域) and sensitive dwell
// (敏感区域停留: a car at a hotel, a golf course or a KTV beyond the dwell
// time). A car asleep at a sensitive place says nothing, so the clock (placesClock)
// judges the dwell as the next fix would.

// PlaceParams debounce prohibited and sensitive places: in after Fixes
// consecutive fixes inside, out after Fixes consecutive fixes outside.
// Dwell is the time at a sensitive place, by category, after which it is
// an episode (a fence's DwellMin overrides it).
type PlaceParams struct {
	Fixes  int                        `json:"fixes"`
	Dwell  map[PlaceCategory]Duration `json:"dwell"`
	Exempt []track.Category           `json:"exempt,omitempty"`
}

// PlaceState is the debounced state at one prohibited or sensitive place.
type PlaceState struct {
	FenceID int64    `json:"fence_id"`
	In      bool     `json:"in"`
	Count   int      `json:"count"`
	Enter   Fix      `json:"enter"`
	Leave   *Fix     `json:"leave,omitempty"`
	Ep      *Episode `json:"ep,omitempty"`
}

// places runs prohibited entry, sensitive dwell and speeding, which share
// one index search per fix.
func (v *vehicle) places(f Fix) {
	st := &v.st
	fs := v.fences
	v.hits = v.hits[:0]
	limit := v.speedLimit()
	fs.search(f.Lat, f.Lon, func(c *fence) {
		if !c.appliesTo(v.info.ID, v.chain) {
			return
		}
		limit = lowerLimit(limit, c)
		if (c.Kind == FenceProhibited && v.enabled(RuleProhibited)) || (c.Kind == FenceSensitive && v.enabled(RuleSensitiveDwell)) {
			v.hits = append(v.hits, c)
		}
	})
	v.speeding(f, limit)

	P := v.par.Places
	for _, c := range v.hits {
		i := slices.IndexFunc(st.Places, func(p PlaceState) bool { return p.FenceID == c.ID })
		if i < 0 {
			st.Places = append(st.Places, PlaceState{FenceID: c.ID, Enter: f})
			i = len(st.Places) - 1
		}
		p := &st.Places[i]
		if p.In {
			p.Count, p.Leave = 0, nil
		} else {
			p.Count++
			if p.Count >= P.Fixes {
				p.In, p.Count = true, 0
				if c.Kind == FenceProhibited {
					p.Ep = newEpisode(RuleProhibited, p.Enter, p.Enter.Time)
					p.Ep.FenceID, p.Ep.Detail = c.ID, c.Name
					v.emit(p.Ep, EpisodeOpen)
				}
			}
		}
		if v.dwelt(p, c, f.Time) {
			p.Ep = dwellEpisode(p, c)
			v.emit(p.Ep, EpisodeOpen)
		}
		if p.Ep != nil {
			p.Ep.MaxSpeedKmh = max(p.Ep.MaxSpeedKmh, f.SpeedKmh)
		}
	}
	keep := st.Places[:0]
	for _, p := range st.Places {
		if slices.ContainsFunc(v.hits, func(c *fence) bool { return c.ID == p.FenceID }) {
			keep = append(keep, p)
			continue
		}
		if !p.In {
			continue // never got in: forget it
		}
		if p.Leave == nil {
			ff := f
			p.Leave = &ff
			// Silent at the place (a terminal asleep in a hotel's car
			// park), the car was there until this first fix outside.
			if c := fs.byID[p.FenceID]; c != nil && v.dwelt(&p, c, f.Time) {
				p.Ep = dwellEpisode(&p, c)
				v.emit(p.Ep, EpisodeOpen)
			}
		}
		p.Count++
		if p.Count < P.Fixes {
			keep = append(keep, p)
			continue
		}
		if p.Ep != nil {
			v.closeEp(p.Ep, p.Leave.Time, *p.Leave)
		}
	}
	clear(st.Places[len(keep):])
	st.Places = keep
}

// dwelt says whether the car, in place p since p.Enter and (as far as
// the data says) still there at until, has stayed at sensitive place c
// beyond its dwell time without an episode yet.
func (v *vehicle) dwelt(p *PlaceState, c *fence, until time.Time) bool {
	return p.In && c.Kind == FenceSensitive && p.Ep == nil && until.Sub(p.Enter.Time) >= v.dwell(c)
}

func dwellEpisode(p *PlaceState, c *fence) *Episode {
	ep := newEpisode(RuleSensitiveDwell, p.Enter, p.Enter.Time)
	ep.FenceID, ep.Detail = c.ID, c.Name+" ("+string(c.Category)+")"
	return ep
}

func (v *vehicle) dwell(c *fence) time.Duration {
	if c.DwellMin > 0 {
		return time.Duration(c.DwellMin * float64(time.Minute))
	}
	return v.par.Places.Dwell[c.Category].D()
}

// placesClock appends the dwell episodes of a car still at a sensitive
// place, as far as the data says, as the clock sees it at asOf.
func (v *vehicle) placesClock(dst []Episode, asOf time.Time) []Episode {
	st := &v.st
	for i := range st.Places {
		p := &st.Places[i]
		c := v.fences.byID[p.FenceID]
		if c == nil {
			continue
		}
		until := asOf
		if p.Leave != nil {
			until = p.Leave.Time
		}
		if v.dwelt(p, c, until) {
			ep := dwellEpisode(p, c)
			v.stamp(ep, EpisodeOpen)
			dst = append(dst, *ep)
		}
	}
	return dst
}
