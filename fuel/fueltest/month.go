// Package fueltest generates a month of one car's track and fuel-card
// fills whose leads are known in advance, for the matching's tests and
// benchmark and for the API's end-to-end test.
package fueltest

import (
	"fmt"
	"math"
	"sort"
	"time"

	"fleetmon/alerts"
	"fleetmon/fuel"
	"fleetmon/track"
)

// Beijing is the zone the statements' times are written in.
var Beijing = time.FixedZone("CST", 8*3600)

// kmPerDegLon is a kilometre east-west at latitude lat0, in degrees.
var kmPerDegLon = 1 / (111.32 * math.Cos(lat0*math.Pi/180))

const lat0 = 30.20

// The car's route, east along lat0 from its compound: station A at 10 km,
// its office at 30 km.
const (
	stationKm = 10
	officeKm  = 30
)

// Tank and Norm are the generated car's tank and consumption norm.
const (
	Tank = 45.0
	Norm = 12.0
)

// Scenario is one car's October 2026 (and the last days of September): its
// stations, track and fills, and the leads each fill must yield.
type Scenario struct {
	// Stations: <prefix>家 at the compound, <prefix>A on the route, and
	// <prefix>远 40 km away from anything the car visits.
	Stations []fuel.Station
	Points   []track.TrackPoint
	// Fills are in time order; Fills[0] (30 September) is the month's
	// previous fill. Their IDs are 1, 2, … and Card is the card.
	Fills []fuel.Fill
	// Want holds the kinds each fill must yield, by index in Fills.
	Want [][]fuel.Kind
	// Home is the compound's position.
	HomeLat, HomeLon float64
}

// segment is a piece of a day's plan: from one km of the route to
// another (the same: parked) between two times of day, with a report
// every step.
type segment struct {
	from, to time.Duration
	kmA, kmB float64
	step     time.Duration
}

// drivingDay is the plan of a working day: to station A, a stop there, on
// to the office, back home in the afternoon.
var drivingDay = []segment{
	{0, 9 * time.Hour, 0, 0, 10 * time.Minute},
	{9 * time.Hour, 9*time.Hour + 15*time.Minute, 0, stationKm, time.Minute},
	{9*time.Hour + 15*time.Minute, 9*time.Hour + 45*time.Minute, stationKm, stationKm, time.Minute},
	{9*time.Hour + 45*time.Minute, 10*time.Hour + 15*time.Minute, stationKm, officeKm, time.Minute},
	{10*time.Hour + 15*time.Minute, 15*time.Hour + 30*time.Minute, officeKm, officeKm, 10 * time.Minute},
	{15*time.Hour + 30*time.Minute, 16*time.Hour + 15*time.Minute, officeKm, 0, time.Minute},
	{16*time.Hour + 15*time.Minute, 24 * time.Hour, 0, 0, 10 * time.Minute},
}

// restDay is a day off: parked at the compound.
var restDay = []segment{{0, 24 * time.Hour, 0, 0, 10 * time.Minute}}

// October2026 generates the scenario for a car whose compound is lonOffset
// degrees east of 115°E, its stations named with prefix and its card card.
func October2026(prefix, card string, lonOffset float64) Scenario {
	cal, err := alerts.NewCalendar(alerts.CalendarSpec{Week: alerts.StandardWeek()}, nil)
	if err != nil {
		panic(err)
	}
	home := 115.0 + lonOffset
	lonAt := func(km float64) float64 { return home + km*kmPerDegLon }
	sc := Scenario{HomeLat: lat0, HomeLon: home, Stations: []fuel.Station{
		{Name: prefix + "家", Lat: lat0, Lon: home},
		{Name: prefix + "A", Lat: lat0, Lon: lonAt(stationKm)},
		{Name: prefix + "远", Lat: lat0 + 0.36, Lon: lonAt(officeKm)},
	}}
	// odo is the nominal odometer, km, at the end of each generated point.
	var odo []float64
	total := 0.0
	first := time.Date(2026, 9, 28, 0, 0, 0, 0, Beijing)
	for day := first; day.Before(time.Date(2026, 11, 1, 0, 0, 0, 0, Beijing)); day = day.AddDate(0, 0, 1) {
		plan := restDay
		if k, _ := cal.DayKind(alerts.DateOf(day)); k.Working() {
			plan = drivingDay
		}
		for _, sg := range plan {
			n := int((sg.to - sg.from) / sg.step)
			speed := float32(math.Abs(sg.kmB-sg.kmA) / (sg.to - sg.from).Hours())
			for i := 0; i < n; i++ {
				frac := float64(i) / float64(n)
				km := sg.kmA + (sg.kmB-sg.kmA)*frac
				sc.Points = append(sc.Points, track.TrackPoint{Time: day.Add(sg.from + time.Duration(i)*sg.step),
					Lat: lat0, Lon: lonAt(km), SpeedKmh: speed, Status: 3})
				odo = append(odo, total+math.Abs(km-sg.kmA))
			}
			total += math.Abs(sg.kmB - sg.kmA)
		}
	}
	odoAt := func(t time.Time) float64 {
		i := sort.Search(len(sc.Points), func(i int) bool { return sc.Points[i].Time.After(t) }) - 1
		return odo[max(i, 0)]
	}
	at := func(d, h, m int) time.Time {
		mo := time.October
		if d > 31 {
			mo, d = time.September, d-31
		}
		return time.Date(2026, mo, d, h, m, 0, 0, Beijing)
	}
	// clean is what a fill at t tops up: 90% of what the kilometres since
	// the previous fill burn at the norm.
	clean := func(t time.Time) float64 {
		if len(sc.Fills) == 0 {
			return 20
		}
		l := 0.9 * (odoAt(t) - odoAt(sc.Fills[len(sc.Fills)-1].At)) * Norm / 100
		return math.Max(1, math.Round(l*100)/100)
	}
	add := func(t time.Time, station int, litres float64, want ...fuel.Kind) {
		if litres == 0 {
			litres = clean(t)
		}
		st := sc.Stations[station]
		sc.Fills = append(sc.Fills, fuel.Fill{ID: int64(len(sc.Fills) + 1), Card: card, At: t, Station: st.Name,
			Product: "92#", Litres: litres, Amount: math.Round(litres*7.5*100) / 100, Place: &st})
		if want == nil {
			want = []fuel.Kind{}
		}
		sc.Wants(want)
	}
	add(at(61, 9, 30), 1, 0)                         // 30 September: the previous fill
	add(at(3, 10, 0), 0, 0, fuel.KindHoliday)        // 国庆节, at the compound
	add(at(8, 9, 30), 1, 0)                          // clean
	add(at(10, 9, 30), 1, 0)                         // a Saturday worked (调休): clean
	add(at(13, 9, 30), 2, 0, fuel.KindAway)          // the card at a station 40 km off
	add(at(15, 9, 30), 1, 0)                         // clean
	add(at(15, 9, 38), 1, 30, fuel.KindOverDistance) // again, without a metre driven
	add(at(18, 11, 0), 0, 0, fuel.KindHoliday)       // a Sunday
	add(at(21, 19, 30), 0, 0, fuel.KindAfterHours)   // a working day's evening
	add(at(30, 9, 30), 1, 48, fuel.KindOverTank)     // 48 L in a 45 L tank, after 370 km
	return sc
}

// Wants appends the kinds a fill must yield.
func (sc *Scenario) Wants(k []fuel.Kind) { sc.Want = append(sc.Want, k) }

// Vehicle is the car as matching judges it, with the standard calendar.
func Vehicle(id int64) fuel.Vehicle {
	cal, err := alerts.NewCalendar(alerts.CalendarSpec{Week: alerts.StandardWeek()}, nil)
	if err != nil {
		panic(err)
	}
	return fuel.Vehicle{ID: id, TankL: Tank, NormL100km: Norm, Calendar: cal}
}

// Describe names a fill for a test's message.
func Describe(f fuel.Fill) string {
	return fmt.Sprintf("%s %s %.2f L", f.At.In(Beijing).Format("01-02 15:04"), f.Station, f.Litres)
}
