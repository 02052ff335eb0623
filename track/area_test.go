package track_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

type fix struct {
	at       time.Time
	lat, lon float64
}

// insertFixes stores a vehicle's fixes, each received a second after its
// device time, or at received when it is not zero (a late back-fill).
func insertFixes(t *testing.T, pool *pgxpool.Pool, vid int64, fixes []fix, received time.Time) {
	t.Helper()
	ctx := context.Background()
	for i, f := range fixes {
		if _, err := pool.Exec(ctx, "SELECT ensure_month_partition('positions', $1)", f.at); err != nil {
			t.Fatal(err)
		}
		rec := f.at.Add(time.Second)
		if !received.IsZero() {
			rec = received
		}
		if _, err := pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
				heading, altitude_m, alarm, status, fix_hash)
			VALUES ($1, $2, $3, 1, ST_SetSRID(ST_MakePoint($4, $5), 4326), 30, 0, 20, 0, 3, $6)`,
			vid, f.at, rec, f.lon, f.lat, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// line returns fixes every step from start, moving linearly between two
// places (n fixes, both ends included).
func line(start time.Time, step time.Duration, n int, lat0, lon0, lat1, lon1 float64) []fix {
	out := make([]fix, n)
	for i := range out {
		k := float64(i) / float64(max(n-1, 1))
		out[i] = fix{start.Add(time.Duration(i) * step), lat0 + k*(lat1-lat0), lon0 + k*(lon1-lon0)}
	}
	return out
}

// An L-shaped area around (30.20, 115.00): the square 30.195–30.205 ×
// 114.995–115.005 without its north-east quarter.
const lArea = `{"type":"Polygon","coordinates":[[[114.995,30.195],[115.005,30.195],[115.005,30.2],[115.0,30.2],[115.0,30.205],[114.995,30.205],[114.995,30.195]]]}`

// TestAreaVisits: the vehicles that were inside an area, with arrival,
// departure, dwell and the reports either side; a vehicle crossing only
// the area's bounding box is not one; the search sees positions the
// footprints do not cover yet and late back-fills; a jurisdiction leaves
// out the vehicles outside it.
func TestAreaVisits(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	a, _ := seedVehicle(t, s.Pool, "鄂B00001", "13800000001")
	c, _ := seedVehicle(t, s.Pool, "鄂B00003", "13800000003")
	if _, _, err := st.ImportVehicles(ctx, []track.VehicleImport{{Line: 2, Plate: "鄂A00002", PlateColor: 1,
		TerminalPhone: "13800000002", UnitPath: []string{"湖北省", "武汉市"}, Category: track.CategoryGeneral}}); err != nil {
		t.Fatal(err)
	}
	var b int64
	if err := s.Pool.QueryRow(ctx, "SELECT id FROM vehicles WHERE plate = '鄂A00002'").Scan(&b); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 14, 0, 0, 0, 0, beijing) // a Saturday
	// A: drives in from the south at 19:50, parked inside from 20:00 to
	// 23:00 with its terminal silent 21:00–22:30, drives out north-west.
	var fa []fix
	fa = append(fa, line(day.Add(19*time.Hour+50*time.Minute), time.Minute, 10, 30.18, 114.998, 30.199, 114.998)...)
	fa = append(fa, line(day.Add(20*time.Hour), 5*time.Minute, 13, 30.1985, 114.998, 30.1985, 114.998)...)
	fa = append(fa, line(day.Add(22*time.Hour+30*time.Minute), 5*time.Minute, 7, 30.1985, 114.998, 30.1985, 114.998)...)
	fa = append(fa, line(day.Add(23*time.Hour+time.Minute), time.Minute, 5, 30.21, 114.99, 30.25, 114.96)...)
	insertFixes(t, s.Pool, a, fa, time.Time{})
	// C: along the north edge, then down into the missing north-east
	// quarter: its box overlaps the area, none of its fixes is inside.
	fc := line(day.Add(20*time.Hour), 30*time.Second, 10, 30.207, 114.996, 30.207, 115.003)
	fc = append(fc, line(day.Add(20*time.Hour+5*time.Minute), 30*time.Second, 10, 30.2065, 115.003, 30.201, 115.003)...)
	insertFixes(t, s.Pool, c, fc, time.Time{})
	// B (another city's unit): straight through the area at 21:00.
	insertFixes(t, s.Pool, b, line(day.Add(21*time.Hour), 30*time.Second, 21, 30.19, 114.998, 30.21, 114.998), time.Time{})

	// Footprints cover what is stored so far.
	now := day.AddDate(0, 0, 1).Add(2 * time.Hour)
	n, err := st.SummariseFootprints(ctx, now)
	if err != nil || n == 0 {
		t.Fatalf("summarise: %d %v", n, err)
	}
	// Stored afterwards, not summarised yet: A comes back the next
	// morning; and a late back-fill of B's from the Saturday afternoon.
	insertFixes(t, s.Pool, a, line(day.Add(33*time.Hour), time.Minute, 30, 30.198, 114.997, 30.198, 114.997), time.Time{})
	late := line(day.Add(15*time.Hour), time.Minute, 3, 30.197, 114.996, 30.197, 114.996)
	insertFixes(t, s.Pool, b, late, now.Add(time.Minute))

	from, to := day.Add(12*time.Hour), day.AddDate(0, 0, 2)
	got, stats, err := st.AreaVisits(ctx, track.All, track.Area{GeoJSON: lArea}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Plate != "鄂A00002" || got[1].Plate != "鄂B00001" {
		t.Fatalf("vehicles inside: %+v (stats %+v)", got, stats)
	}
	va := got[1].Visits
	if len(va) != 2 {
		t.Fatalf("A's visits: %+v", va)
	}
	first := va[0]
	if !first.Arrival.Equal(day.Add(19*time.Hour+58*time.Minute)) || !first.EnteredAfter.Equal(day.Add(19*time.Hour+57*time.Minute)) ||
		!first.Departure.Equal(day.Add(23*time.Hour)) || !first.LeftBefore.Equal(day.Add(23*time.Hour+time.Minute)) || !first.HasGap {
		t.Errorf("A's evening: %+v", first)
	}
	// The report before it is the last of the night before, outside.
	if second := va[1]; !second.Arrival.Equal(day.Add(33*time.Hour)) || second.Dwell() != 29*time.Minute || second.Points != 30 ||
		!second.EnteredAfter.Equal(day.Add(23*time.Hour+5*time.Minute)) || !second.LeftBefore.IsZero() || second.HasGap {
		t.Errorf("A's morning (not summarised yet): %+v", second)
	}
	vb := got[0].Visits
	if len(vb) != 2 || !vb[0].Arrival.Equal(late[0].at) || vb[1].Points == 0 || vb[1].Dwell() > 10*time.Minute {
		t.Errorf("B: the late back-fill and the crossing: %+v", vb)
	}

	// Summarising again covers the rest and changes no answer.
	if _, err := st.SummariseFootprints(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	again, _, err := st.AreaVisits(ctx, track.All, track.Area{GeoJSON: lArea}, from, to)
	if err != nil || len(again) != 2 || len(again[1].Visits) != 2 || again[1].Visits[0] != first || len(again[0].Visits) != 2 {
		t.Errorf("after summarising everything: %+v %v", again, err)
	}

	// A county's jurisdiction: only A.
	var county int64
	if err := s.Pool.QueryRow(ctx, "SELECT unit_id FROM vehicles WHERE id = $1", a).Scan(&county); err != nil {
		t.Fatal(err)
	}
	mine, _, err := st.AreaVisits(ctx, track.Scope{Root: county}, track.Area{GeoJSON: lArea}, from, to)
	if err != nil || len(mine) != 1 || mine[0].VehicleID != a {
		t.Errorf("within the county: %+v %v", mine, err)
	}

	// A circle of 100 m around where A parked: A only, and only the
	// evening within a period that ends at midnight.
	circle, _, err := st.AreaVisits(ctx, track.All, track.Area{GeoJSON: `{"type":"Point","coordinates":[114.998,30.1985]}`, BufferM: 100},
		day.Add(18*time.Hour), day.AddDate(0, 0, 1))
	if err != nil || len(circle) != 2 || len(circle[1].Visits) != 1 || circle[1].Visits[0].Points != 13+7+1 {
		t.Errorf("circle: %+v %v", circle, err)
	}

	for _, bad := range []track.Area{{GeoJSON: `{"type":"Point","coordinates":[114.998,30.1985]}`}, {GeoJSON: `{"type":"Nope"}`},
		{GeoJSON: `{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}`}} {
		if _, _, err := st.AreaVisits(ctx, track.All, bad, from, to); !errors.Is(err, track.ErrBadArea) {
			t.Errorf("area %s: %v, want ErrBadArea", bad.GeoJSON, err)
		}
	}
}

// TestAreaVisitsLateCommit: a position committed long after it was
// received (a node cut off from the database, its writer retrying, while
// another node's footprint job ran on) is found by an area search before
// the next run and summarised by it: the job follows commits, not
// receptions.
func TestAreaVisitsLateCommit(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	a, _ := seedVehicle(t, s.Pool, "鄂B00001", "13800000001")
	b, _ := seedVehicle(t, s.Pool, "鄂B00002", "13800000002")
	now := time.Now()
	day := now.Add(-3 * time.Hour).Truncate(time.Hour)
	insertFixes(t, s.Pool, a, line(day, time.Minute, 20, 30.198, 114.997, 30.198, 114.997), time.Time{})
	// The first run goes by reception, every later one by commit.
	for range 2 {
		if _, err := st.SummariseFootprints(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	// Received two hours ago (the runs above are past it), committed now.
	late := line(day.Add(30*time.Minute), time.Minute, 5, 30.197, 114.996, 30.197, 114.996)
	insertFixes(t, s.Pool, b, late, now.Add(-2*time.Hour))
	search := func(when string) {
		t.Helper()
		got, _, err := st.AreaVisits(ctx, track.All, track.Area{GeoJSON: lArea}, day, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].VehicleID != b || len(got[1].Visits) != 1 || got[1].Visits[0].Points != len(late) {
			t.Errorf("%s: %+v", when, got)
		}
	}
	search("before the next run")
	// A run covers the commits below the oldest transaction still running
	// anywhere on the server (other tests' too): run until it has B's.
	hours := func() (n int) {
		t.Helper()
		if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM position_footprints WHERE vehicle_id = $1", b).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); hours() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no run summarised B's late positions")
		}
		if _, err := st.SummariseFootprints(ctx, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := hours(); n != 1 {
		t.Errorf("B has %d footprints, want 1 (its hour)", n)
	}
	search("after it")
	// Nothing committed since: the run reads nothing.
	if n, err := st.SummariseFootprints(ctx, now.Add(2*time.Minute)); err != nil || n != 0 {
		t.Errorf("an idle run wrote %d footprints (%v)", n, err)
	}
}
