package sim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Point is one position of a simulated vehicle, in real units. Terminal converts it to the wire
// units of 0x0200 in one place (see locationOf).
type Point struct {
	// Time is when the fix was taken; it is sent as BCD in GMT+8.
	Time time.Time
	// Lat and Lon are WGS-84 degrees; negative means south or west (status bits 2 and 3).
	Lat, Lon float64
	// AltitudeM is the height above sea level in metres (negative values are sent as 0).
	AltitudeM float64
	// SpeedKmh is the GNSS speed in km/h.
	SpeedKmh float64
	// Heading is degrees clockwise from north, in [0, 360).
	Heading float64
	// ACC is the ignition (status bit 0).
	ACC bool
	// Positioned says the fix is valid (status bit 1).
	Positioned bool
	// Alarm is the alarm DWORD (JT/T 808-2019 表 24), sent as is.
	Alarm uint32
	// MileageKm is the odometer, additional item 0x01.
	MileageKm float64
	// FuelL is the fuel level in litres, additional item 0x02.
	FuelL float64
	// Signal is the wireless signal strength, additional item 0x30.
	Signal uint8
	// Satellites is the number of GNSS satellites in use, additional item 0x31.
	Satellites uint8
}

// Source produces the successive positions of one vehicle. Next is called with the current time
// and returns false when the source has no more positions (a Driver never ends).
type Source interface {
	Next(now time.Time) (Point, bool)
}

// LatLon is a position in WGS-84 degrees.
type LatLon struct{ Lat, Lon float64 }

// earthRadiusM is the mean Earth radius used by DistanceM.
const earthRadiusM = 6371008.8

// DistanceM returns the great-circle distance between a and b in metres.
func DistanceM(a, b LatLon) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dφ := φ2 - φ1
	dλ := (b.Lon - a.Lon) * math.Pi / 180
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// BearingDeg returns the initial bearing from a to b in degrees clockwise from north, in [0, 360).
func BearingDeg(a, b LatLon) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dλ := (b.Lon - a.Lon) * math.Pi / 180
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	deg := math.Atan2(y, x) * 180 / math.Pi
	return normDeg(deg)
}

// normDeg maps any angle to [0, 360).
func normDeg(deg float64) float64 {
	deg = math.Mod(deg, 360)
	if deg < 0 {
		deg += 360
	}
	if deg >= 360 { // -1e-15 + 360 rounds to 360
		deg = 0
	}
	return deg
}

// Network is a small road network: nodes (intersections) and the roads between them. It is
// immutable and safe for concurrent use.
type Network struct {
	// Nodes are the intersections.
	Nodes []LatLon
	// Adj lists, for each node, the nodes it has a straight road to.
	Adj [][]int
	// Depots are the node indexes where vehicles are parked (the units' compounds).
	Depots []int
}

// Huangshi grid: 7 × 7 intersections around the centre of 黄石市 (30.20 N, 115.04 E).
const (
	gridN         = 7
	centreLat     = 30.20
	centreLon     = 115.04
	gridStepLat   = 0.009  // ≈ 1.0 km
	gridStepLon   = 0.0104 // ≈ 1.0 km at 30.2° N
	gridWobbleDeg = 0.0015 // ≈ 150 m: roads are not ruled lines
	gridSeed      = 808    // the network is the same for every run, whatever the drivers' seed
)

// HuangshiNetwork returns the built-in road network: a rough 7 × 7 grid of roads about 1 km
// apart around 黄石市 (Huangshi, Hubei), two diagonal trunk roads through the centre, and three
// depots. The returned value is shared; do not modify it.
func HuangshiNetwork() *Network { return huangshi() }

var huangshi = sync.OnceValue(func() *Network {
	rng := rand.New(rand.NewPCG(gridSeed, gridSeed))
	n := &Network{}
	id := func(r, c int) int { return r*gridN + c }
	for r := range gridN {
		for c := range gridN {
			lat := centreLat + float64(r-gridN/2)*gridStepLat + (rng.Float64()*2-1)*gridWobbleDeg
			lon := centreLon + float64(c-gridN/2)*gridStepLon + (rng.Float64()*2-1)*gridWobbleDeg
			n.Nodes = append(n.Nodes, LatLon{lat, lon})
		}
	}
	n.Adj = make([][]int, len(n.Nodes))
	link := func(a, b int) {
		n.Adj[a] = append(n.Adj[a], b)
		n.Adj[b] = append(n.Adj[b], a)
	}
	for r := range gridN {
		for c := range gridN {
			if c+1 < gridN {
				link(id(r, c), id(r, c+1))
			}
			if r+1 < gridN {
				link(id(r, c), id(r+1, c))
			}
		}
	}
	for i := 0; i+1 < gridN; i++ {
		link(id(i, i), id(i+1, i+1))
		link(id(i, gridN-1-i), id(i+1, gridN-2-i))
	}
	// 市直 compound in the centre, two county-side compounds to the south-west and north-east.
	n.Depots = []int{id(3, 3), id(1, 1), id(5, 5)}
	return n
})

// shortestPath returns the node indexes from a to b (both included) along the shortest roads.
func (n *Network) shortestPath(a, b int) []int {
	dist := make([]float64, len(n.Nodes))
	prev := make([]int, len(n.Nodes))
	done := make([]bool, len(n.Nodes))
	for i := range dist {
		dist[i] = math.Inf(1)
		prev[i] = -1
	}
	dist[a] = 0
	// The network has a few dozen nodes: a linear scan beats a heap.
	for {
		u := -1
		for i := range dist {
			if !done[i] && !math.IsInf(dist[i], 1) && (u < 0 || dist[i] < dist[u]) {
				u = i
			}
		}
		if u < 0 || u == b {
			break
		}
		done[u] = true
		for _, v := range n.Adj[u] {
			if d := dist[u] + DistanceM(n.Nodes[u], n.Nodes[v]); d < dist[v] {
				dist[v], prev[v] = d, u
			}
		}
	}
	if prev[b] < 0 && a != b {
		return nil
	}
	var path []int
	for v := b; v >= 0; v = prev[v] {
		path = append(path, v)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path
}

// DriverConfig configures a Driver. The zero value of each field means its default.
type DriverConfig struct {
	// Seed makes the driver deterministic: the same seed and the same sequence of times give the
	// same points.
	Seed uint64
	// Network is the road network; default HuangshiNetwork().
	Network *Network
	// Depot is an index into Network.Depots (taken modulo their number); the vehicle starts
	// there and returns there.
	Depot int
	// MinSpeedKmh and MaxSpeedKmh bound the speed while driving; default 20 and 60.
	MinSpeedKmh, MaxSpeedKmh float64
	// ParkMin and ParkMax bound how long the vehicle stays at the depot; default 5 and 30 minutes.
	ParkMin, ParkMax time.Duration
	// StopMin and StopMax bound how long it stays at a destination; default 2 and 15 minutes.
	StopMin, StopMax time.Duration
	// JitterM is the radius of the GPS jitter while parked, in metres; default 5.
	JitterM float64
}

func (c *DriverConfig) setDefaults() {
	if c.Network == nil {
		c.Network = HuangshiNetwork()
	}
	if c.MinSpeedKmh <= 0 {
		c.MinSpeedKmh = 20
	}
	if c.MaxSpeedKmh <= c.MinSpeedKmh {
		c.MaxSpeedKmh = max(60, c.MinSpeedKmh)
	}
	if c.ParkMin <= 0 {
		c.ParkMin = 5 * time.Minute
	}
	if c.ParkMax < c.ParkMin {
		c.ParkMax = max(30*time.Minute, c.ParkMin)
	}
	if c.StopMin <= 0 {
		c.StopMin = 2 * time.Minute
	}
	if c.StopMax < c.StopMin {
		c.StopMax = max(15*time.Minute, c.StopMin)
	}
	if c.JitterM <= 0 {
		c.JitterM = 5
	}
}

type driverState uint8

const (
	stateParked  driverState = iota // at the depot, ACC off
	stateStopped                    // at a destination, ACC off
	stateDriving
)

// Driver moves one vehicle through a road network: parked at its depot (ACC off, speed 0, small
// GPS jitter), then driving along the roads at MinSpeedKmh–MaxSpeedKmh to a destination, stopping
// there for a while, sometimes going on to another destination, and returning to the depot. The
// speed reported with each point is the one at which the vehicle covered the distance since the
// previous point, so consecutive points are never farther apart than speed × interval (plus the
// parked jitter). A Driver is not safe for concurrent use.
type Driver struct {
	cfg   DriverConfig
	rng   *rand.Rand
	depot int

	state   driverState
	started bool
	last    time.Time
	until   time.Time // end of the current park or stop
	node    int       // where the vehicle is parked or stopped
	path    []int     // current trip's nodes; path[next] is the next one to reach
	next    int
	pos     LatLon // exact position on the road (parked points add jitter to it)
	speed   float64
	target  float64 // target speed on the current road
	heading float64
	altM    float64
	arrived bool // the last step ended the trip: its point still has the speed driven

	mileageKm float64
	fuelL     float64
	signal    uint8
	sats      uint8
}

// tankL is the fuel tank size of a typical official sedan.
const tankL = 55.0

// NewDriver returns a driver parked at its depot.
func NewDriver(cfg DriverConfig) *Driver {
	cfg.setDefaults()
	// The second PCG word separates drivers from other users of the same seed (the fleet).
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6472697665))
	n := cfg.Network
	depot := n.Depots[((cfg.Depot%len(n.Depots))+len(n.Depots))%len(n.Depots)]
	return &Driver{
		cfg:       cfg,
		rng:       rng,
		depot:     depot,
		node:      depot,
		pos:       n.Nodes[depot],
		heading:   float64(rng.IntN(360)),
		altM:      20 + rng.Float64()*30,
		mileageKm: 3000 + rng.Float64()*60000,
		fuelL:     20 + rng.Float64()*(tankL-20),
		signal:    uint8(15 + rng.IntN(17)),
		sats:      uint8(8 + rng.IntN(12)),
	}
}

// Next advances the vehicle to now and returns its position. The first call starts the
// simulation at now, parked for a random part of a park period (so that a fleet does not leave
// all at once). Times that go backwards are treated as no time passing. Next never returns false.
func (d *Driver) Next(now time.Time) (Point, bool) {
	if !d.started {
		d.started = true
		d.last = now
		d.state = stateParked
		d.until = now.Add(time.Duration(d.rng.Int64N(int64(d.cfg.ParkMax) + 1)))
		return d.point(now), true
	}
	dt := now.Sub(d.last).Seconds()
	if dt < 0 {
		dt = 0
	}
	d.last = now
	d.arrived = false
	d.wander()
	if d.state != stateDriving {
		if now.Before(d.until) {
			return d.point(now), true
		}
		d.depart()
	}
	d.drive(dt, now)
	return d.point(now), true
}

// wander moves signal strength and satellite count a little, as they do in a real car.
func (d *Driver) wander() {
	d.signal = uint8(min(31, max(5, int(d.signal)+d.rng.IntN(5)-2)))
	d.sats = uint8(min(24, max(5, int(d.sats)+d.rng.IntN(3)-1)))
}

// depart starts a trip from the current node: back to the depot from a destination (or, one
// time in four, on to another destination), or from the depot to a random destination.
func (d *Driver) depart() {
	n := d.cfg.Network
	dest := d.depot
	if d.node == d.depot || d.rng.IntN(4) == 0 {
		for dest == d.node || dest == d.depot {
			dest = d.rng.IntN(len(n.Nodes))
		}
	}
	d.path = n.shortestPath(d.node, dest)
	d.next = 1
	d.pos = n.Nodes[d.node]
	d.state = stateDriving
	d.speed = d.cfg.MinSpeedKmh + d.rng.Float64()*5
	d.newTarget()
}

// newTarget picks the speed the driver aims for on the next road.
func (d *Driver) newTarget() {
	d.target = d.cfg.MinSpeedKmh + d.rng.Float64()*(d.cfg.MaxSpeedKmh-d.cfg.MinSpeedKmh)
}

// maxSpeedStepKmh is how much the speed may change between two points: about 1 m/s² over 5 s.
const maxSpeedStepKmh = 15

// drive moves the vehicle dt seconds along its path and stops it at the end.
func (d *Driver) drive(dt float64, now time.Time) {
	n := d.cfg.Network
	step := math.Max(-maxSpeedStepKmh, math.Min(maxSpeedStepKmh, d.target-d.speed))
	d.speed += step + (d.rng.Float64()*2-1)*2
	d.speed = math.Max(d.cfg.MinSpeedKmh, math.Min(d.cfg.MaxSpeedKmh, d.speed))
	dist := d.speed / 3.6 * dt
	d.mileageKm += dist / 1000
	// 9 L/100 km: a 2.0 L sedan in town.
	d.fuelL = math.Max(0, d.fuelL-dist/1000*0.09)
	for dist > 0 && d.next < len(d.path) {
		to := n.Nodes[d.path[d.next]]
		seg := DistanceM(d.pos, to)
		if seg > 0 {
			d.heading = BearingDeg(d.pos, to)
		}
		if dist < seg {
			f := dist / seg
			d.pos = LatLon{d.pos.Lat + (to.Lat-d.pos.Lat)*f, d.pos.Lon + (to.Lon-d.pos.Lon)*f}
			return
		}
		dist -= seg
		d.pos = to
		d.next++
		d.newTarget()
	}
	if d.next >= len(d.path) {
		d.arrive(now)
	}
}

// arrive parks the vehicle at the end of its path.
func (d *Driver) arrive(now time.Time) {
	d.node = d.path[len(d.path)-1]
	d.path = d.path[:0]
	d.arrived = true
	if d.node == d.depot {
		d.state = stateParked
		d.until = now.Add(d.between(d.cfg.ParkMin, d.cfg.ParkMax))
		// Official cars are refuelled by the motor pool when below a quarter of a tank.
		if d.fuelL < tankL/4 {
			d.fuelL = tankL
		}
	} else {
		d.state = stateStopped
		d.until = now.Add(d.between(d.cfg.StopMin, d.cfg.StopMax))
	}
}

func (d *Driver) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)+1))
}

// point returns the current position; a parked or stopped vehicle's fix jitters around where it
// stands. Its speed is the one it drove at since the previous point (0 while standing), so the
// point of arrival still carries the speed of the last metres.
func (d *Driver) point(now time.Time) Point {
	p := Point{
		Time:       now,
		Lat:        d.pos.Lat,
		Lon:        d.pos.Lon,
		AltitudeM:  d.altM,
		Heading:    math.Round(d.heading),
		Positioned: true,
		MileageKm:  d.mileageKm,
		FuelL:      d.fuelL,
		Signal:     d.signal,
		Satellites: d.sats,
	}
	if p.Heading >= 360 {
		p.Heading = 0
	}
	if d.state == stateDriving || d.arrived {
		p.SpeedKmh = d.speed
		p.ACC = true
		return p
	}
	r := d.cfg.JitterM * math.Sqrt(d.rng.Float64())
	θ := d.rng.Float64() * 2 * math.Pi
	p.Lat += r * math.Cos(θ) / 111195
	p.Lon += r * math.Sin(θ) / (111195 * math.Cos(p.Lat*math.Pi/180))
	return p
}
