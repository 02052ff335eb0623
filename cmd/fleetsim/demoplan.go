package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"fleetmon/cmd/fleetsim/sim"
)

// The demo's plan: which simulated cars misuse their vehicle, and how, so that `make run` shows
// within minutes what fleetmon is for. `fleetsim setup` puts what the rules need into the server
// through its API (calendars, fences, a seal); `fleetsim demo` drives the cars. Both derive the
// plan from the same fleet flags, so they agree on the plates without talking to each other.

// role is what one demo car does.
type role uint8

const (
	rolePlain      role = iota // drives around, within the rules
	roleAfterHours             // a car of the off-duty unit that drives now
	roleSealed                 // sealed (封存), and driven
	roleSpeeder                // 80 km/h in the city's 60 km/h zone
	roleLeaver                 // leaves the permitted area eastwards and comes back
	roleOvernight              // stayed out of its compound last night
)

// The demo cars by index in the fleet. Vehicles are spread over the units round robin, so with
// the three default units index 1 and 4 are the south-western county's (depot at grid (1,1)) and
// 2 and 5 the north-eastern one's (grid (5,5)); unit 0, the city's, is the off-duty one.
const (
	sealedIndex    = 1
	speederIndex   = 2
	overnightIndex = 4
	leaverIndex    = 5
)

// The demo's speeds and places.
const (
	cityLimitKmh  = 60 // the speed zone's limit; Driver drives at most 60
	speederKmh    = 80
	tourKmh       = 40
	leaverKmh     = 50
	parkingRadius = 200 // metres around the overnight car's depot: its designated parking
)

// permittedArea is the demo's permitted area (允许行驶区域): the road network with a margin of
// about a kilometre, as [south, west, north, east] degrees; the leaver drives out of it eastwards.
var permittedArea = [4]float64{30.160, 114.995, 30.240, 115.085}

// cityZone is the 60 km/h zone over the road network, the same way.
var cityZone = [4]float64{30.165, 115.000, 30.235, 115.080}

// offDutyUnit is the index (in the fleet's units) of the unit whose demo calendar has it off
// duty now.
const offDutyUnit = 0

// cst is China Standard Time; China keeps no daylight saving time, so a fixed zone needs no
// time zone database.
var cst = time.FixedZone("CST", 8*3600)

// nightCheck is the night-parking rule's default check time (parking.check_at, 22:00).
const nightCheck = 22 * time.Hour

// plan is the demo for one fleet.
type plan struct {
	vs    []sim.Vehicle
	roles []role
	units []string // the fleet's units, by UnitIndex
}

func newPlan(vs []sim.Vehicle) plan {
	p := plan{vs: vs, roles: make([]role, len(vs))}
	for _, v := range vs {
		for len(p.units) <= v.UnitIndex {
			p.units = append(p.units, "")
		}
		p.units[v.UnitIndex] = v.Unit
	}
	special := map[int]role{sealedIndex: roleSealed, speederIndex: roleSpeeder, overnightIndex: roleOvernight, leaverIndex: roleLeaver}
	for i, v := range vs {
		switch r, ok := special[i]; {
		case ok:
			p.roles[i] = r
		case v.UnitIndex == offDutyUnit && !timeExempt(v.Category):
			p.roles[i] = roleAfterHours
		}
	}
	return p
}

// timeExempt says whether the working-time rules leave the category alone by default (emergency
// and confidential cars are on call around the clock).
func timeExempt(category string) bool { return category == "emergency" || category == "confidential" }

// plates returns the plates of the cars with role r.
func (p plan) plates(r role) []string {
	var out []string
	for i, v := range p.vs {
		if p.roles[i] == r {
			out = append(out, v.Plate)
		}
	}
	return out
}

// source returns where vehicle i drives: a tour that shows its misuse within minutes, then the
// usual driver, or the usual driver alone.
func (p plan) source(i int, drv *sim.Driver) sim.Source {
	n := sim.HuangshiNetwork()
	v := p.vs[i]
	depot := n.Depots[v.UnitIndex%len(n.Depots)]
	// Grid coordinates of the depot, to route relative to it.
	r, c := sim.GridOf(depot)
	at := func(dr, dc int) int { return sim.Node(min(6, max(0, r+dr)), min(6, max(0, c+dc))) }
	switch p.roles[i] {
	case roleAfterHours:
		// Each off-duty car takes its own square, leaving a quarter of a minute after the last.
		k := slices.Index(p.plates(roleAfterHours), v.Plate)
		d := [4][2]int{{1, 1}, {-1, 1}, {-1, -1}, {1, -1}}[k%4]
		route := n.RouteOf(depot, at(2*d[0], 0), at(2*d[0], 2*d[1]), at(0, 2*d[1]), depot)
		return &sim.Tour{Route: route, Wait: time.Duration(15+15*k) * time.Second, SpeedKmh: tourKmh, Then: drv}
	case roleSealed:
		route := n.RouteOf(depot, at(0, 2), at(2, 2), at(2, 0), depot)
		return &sim.Tour{Route: route, Wait: 20 * time.Second, SpeedKmh: tourKmh, Then: drv}
	case roleSpeeder:
		route := n.RouteOf(depot, at(0, -2), at(-2, -2), at(-2, 0), depot)
		return &sim.Tour{Route: route, Wait: 10 * time.Second, SpeedKmh: speederKmh, Then: drv}
	case roleLeaver:
		east := at(0, 6)
		far := sim.LatLon{Lat: n.Nodes[east].Lat, Lon: permittedArea[3] + 0.025} // 2.4 km beyond
		route := n.RouteOf(depot, east)
		route = append(route, far)
		route = append(route, n.RouteOf(east, depot)...)
		return &sim.Tour{Route: route, Wait: 10 * time.Second, SpeedKmh: leaverKmh, Then: drv}
	}
	return drv
}

// lastNight returns the night-parking check the overnight car's stored positions are judged
// at: the latest 22:00 (China time) at least half an hour before now, so that the positions
// around it are all in the past.
func lastNight(now time.Time) time.Time {
	l := now.In(cst)
	c := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, cst).Add(nightCheck)
	for c.Add(30 * time.Minute).After(now) {
		c = c.AddDate(0, 0, -1)
	}
	return c
}

// overnightSpot is where the overnight car spent last night: a crossing about 3 km from its
// compound.
func (p plan) overnightSpot() sim.LatLon {
	n := sim.HuangshiNetwork()
	depot := n.Depots[p.vs[overnightIndex].UnitIndex%len(n.Depots)]
	r, c := sim.GridOf(depot)
	return n.Nodes[sim.Node(max(0, r-1), min(6, c+3))]
}

// nightPositions are what the overnight car's terminal stored last night with no network and
// uploads as a blind-zone back-fill (0x0704) when it connects: parked, ignition off, outside its
// compound from 50 minutes before the check until 20 minutes after. The times depend only on
// the check, so a second start on the same day uploads the same positions again, which the
// server stores once.
func (p plan) nightPositions(now time.Time) []sim.Point {
	check := lastNight(now)
	spot := p.overnightSpot()
	var pts []sim.Point
	for t := check.Add(-50 * time.Minute); !t.After(check.Add(20 * time.Minute)); t = t.Add(10 * time.Minute) {
		pts = append(pts, sim.Point{Time: t, Lat: spot.Lat, Lon: spot.Lon, AltitudeM: 30, Positioned: true,
			MileageKm: 20000, FuelL: 40, Signal: 20, Satellites: 10})
	}
	return pts
}

// summary says, for the start-up note, which plates do what: the rule's name and the plates on
// one line, what they do on the next.
func (p plan) summary() string {
	var b strings.Builder
	line := func(r role, format string, args ...any) {
		if ps := p.plates(r); len(ps) > 0 {
			fmt.Fprintf(&b, "    %s%s%s\n%20s%s\n", ruleZh[r], strings.Repeat(" ", 16-width(ruleZh[r])),
				strings.Join(ps, " "), "", fmt.Sprintf(format, args...))
		}
	}
	line(roleAfterHours, "drive now, while %s is off duty by its demo calendar", p.unitName(offDutyUnit))
	line(roleSealed, "is sealed, and drives")
	line(roleSpeeder, "drives %d km/h in the %d km/h city zone", speederKmh, cityLimitKmh)
	line(roleLeaver, "leaves the permitted area eastwards, and comes back")
	line(roleOvernight, "was out of its compound at 22:00 last night: its terminal\n%20suploads the night's positions when it connects", "")
	return b.String()
}

// width is the width of s on a terminal: CJK characters take two columns.
func width(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x2E80 {
			n++
		}
	}
	return n
}

// ruleZh names the rule each role trips.
var ruleZh = map[role]string{
	roleAfterHours: "非工作时间用车",
	roleSealed:     "封存车辆移动",
	roleSpeeder:    "超速",
	roleLeaver:     "越界",
	roleOvernight:  "夜间未入库",
}

func (p plan) unitName(i int) string {
	if i >= len(p.units) {
		return "?"
	}
	u := p.units[i]
	return u[strings.LastIndex(u, "/")+1:]
}
