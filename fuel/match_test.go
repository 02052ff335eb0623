package fuel_test

import (
	"slices"
	"testing"
	"time"

	"fleetmon/fuel"
	"fleetmon/fuel/fueltest"
	"fleetmon/track"
)

// TestMonthOfFills matches a generated month whose leads are known: fills
// away from the car, over the tank, with no driving since the last, on
// holidays, after hours, and clean ones (a make-up Saturday among them)
// yield exactly the expected leads and no others.
func TestMonthOfFills(t *testing.T) {
	sc := fueltest.October2026("测试", "9000000001", 0)
	leads := fuel.Match(fueltest.Vehicle(1), nil, sc.Fills, sc.Points, fuel.Config{})
	got := map[int64][]fuel.Kind{}
	for _, l := range leads {
		got[l.FillID] = append(got[l.FillID], l.Kind)
		if len(l.Excerpt) == 0 && l.Kind != fuel.KindNoTrack {
			t.Errorf("lead %s of fill %d has no track excerpt", l.Kind, l.FillID)
		}
	}
	for i, f := range sc.Fills {
		g := got[f.ID]
		if g == nil {
			g = []fuel.Kind{}
		}
		if !slices.Equal(g, sc.Want[i]) {
			t.Errorf("fill %s: leads %v, want %v", fueltest.Describe(f), g, sc.Want[i])
		}
	}
	// Matching again gives the same leads: nothing depends on the clock.
	again := fuel.Match(fueltest.Vehicle(1), nil, sc.Fills, sc.Points, fuel.Config{})
	if len(again) != len(leads) {
		t.Fatalf("second match: %d leads, first %d", len(again), len(leads))
	}
	for i := range again {
		if again[i].FillID != leads[i].FillID || again[i].Kind != leads[i].Kind || again[i].Figures.Litres != leads[i].Figures.Litres {
			t.Errorf("second match lead %d: %+v, first %+v", i, again[i], leads[i])
		}
	}
}

// TestMatchThresholds holds the configured distance: a station 5 km off
// is a lead at the default 300 m, and none when 6 km are allowed.
func TestMatchThresholds(t *testing.T) {
	sc := fueltest.October2026("测试", "9000000001", 0)
	f := sc.Fills[2] // 8 October, 09:30, at station A
	st := *f.Place
	st.Lon += 5 / 96.2
	f.Place = &st
	v := fueltest.Vehicle(1)
	v.Calendar = nil
	if ls := fuel.Match(v, nil, []fuel.Fill{f}, sc.Points, fuel.Config{}); len(ls) != 1 || ls[0].Kind != fuel.KindAway || *ls[0].Figures.NearestM < 4900 {
		t.Fatalf("5 km off at the default distance: %+v", ls)
	}
	if ls := fuel.Match(v, nil, []fuel.Fill{f}, sc.Points, fuel.Config{NearM: 6000}); len(ls) != 0 {
		t.Fatalf("5 km off with 6 km allowed: %+v", ls)
	}
	f.Place = nil
	if ls := fuel.Match(v, nil, []fuel.Fill{f}, sc.Points, fuel.Config{}); len(ls) != 1 || ls[0].Kind != fuel.KindUnknownStation {
		t.Fatalf("a station not in the list: %+v", ls)
	}
	if ls := fuel.Match(v, nil, []fuel.Fill{sc.Fills[2]}, nil, fuel.Config{}); len(ls) != 1 || ls[0].Kind != fuel.KindNoTrack {
		t.Fatalf("no track: %+v", ls)
	}
}

// BenchmarkMatchMonth matches a month of fills for 1,000 vehicles, each
// with a month of track (about 9,000 positions) and ten fills.
func BenchmarkMatchMonth(b *testing.B) {
	sc := fueltest.October2026("测试", "9000000001", 0)
	vs := make([]fuel.Vehicle, 1000)
	for i := range vs {
		vs[i] = fueltest.Vehicle(int64(i + 1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		leads := 0
		for _, v := range vs {
			leads += len(fuel.Match(v, nil, sc.Fills, sc.Points, fuel.Config{}))
		}
		if leads != 6000 {
			b.Fatalf("%d leads, want 6000", leads)
		}
	}
	b.ReportMetric(float64(len(sc.Points)), "points/vehicle")
}

// TestMatchParkedTerminal: a parked terminal reporting once an hour
// places the car by the reports either side of an empty window, when the
// car stood still between them; when it moved, where it was is unknown.
func TestMatchParkedTerminal(t *testing.T) {
	at := time.Date(2026, 10, 8, 9, 30, 0, 0, fueltest.Beijing)
	st := fuel.Station{Name: "站", Lat: 30.2, Lon: 115}
	f := fuel.Fill{ID: 1, At: at, Station: st.Name, Litres: 20, Place: &st}
	v := fuel.Vehicle{ID: 1}
	pt := func(d time.Duration, lon float64) track.TrackPoint {
		return track.TrackPoint{Time: at.Add(d), Lat: 30.2, Lon: lon}
	}
	for _, c := range []struct {
		name string
		pts  []track.TrackPoint
		want []fuel.Kind
	}{
		{"parked at the station", []track.TrackPoint{pt(-time.Hour, 115), pt(time.Hour, 115.0001)}, nil},
		{"parked 5 km away", []track.TrackPoint{pt(-time.Hour, 115.05), pt(time.Hour, 115.05)}, []fuel.Kind{fuel.KindAway}},
		{"moved in between", []track.TrackPoint{pt(-time.Hour, 115.05), pt(time.Hour, 115)}, []fuel.Kind{fuel.KindNoTrack}},
		{"silent for too long", []track.TrackPoint{pt(-3*time.Hour, 115), pt(3*time.Hour, 115)}, []fuel.Kind{fuel.KindNoTrack}},
	} {
		var got []fuel.Kind
		for _, l := range fuel.Match(v, nil, []fuel.Fill{f}, c.pts, fuel.Config{}) {
			got = append(got, l.Kind)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
