package alerts

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
)

// TestStoreConfig round-trips every part of the configuration through its
// table and checks what PostGIS makes of the fences.
func TestStoreConfig(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	s := g.store

	// Holidays: the embedded years are seeded once; an import replaces a year.
	l, err := s.LoadConfig(ctx, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Holidays.Years(); !slices.Equal(got, DefaultHolidays().Years()) || l.Holidays.Version() != DefaultHolidays().Version() {
		t.Fatalf("seeded years %v (version %s)", got, l.Holidays.Version())
	}
	y := DefaultHolidays().File().Years["2026"]
	y.Holidays = append(slices.Clone(y.Holidays), HolidayGroup{Name: "测试假", Days: []Date{MustDate("2026-12-01")}})
	if err := s.PutHolidayYear(ctx, 2026, y, "test"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureHolidays(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err = s.LoadConfig(ctx, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if k, name := l.Config.Calendars.For(g.bureau).DayKind(MustDate("2026-12-01")); k != Holiday || name != "测试假" {
		t.Errorf("imported holiday not used: %s %q", k, name)
	}
	bad := HolidayYear{Workdays: []Date{MustDate("2026-12-02")}} // a Wednesday
	if err := s.PutHolidayYear(ctx, 2026, bad, "test"); err == nil {
		t.Error("a make-up workday on a Wednesday was stored")
	}

	// Calendars: the bureau inherits the city's; editing moves the revision.
	cal := l.Config.Calendars.For(g.bureau)
	if sp := cal.Spec(); sp.UnitID != g.city || sp.Revision != 1 {
		t.Errorf("bureau's calendar: unit %d revision %d", sp.UnitID, sp.Revision)
	}
	sp, err := s.PutCalendar(ctx, CalendarSpec{UnitID: g.city, Week: StandardWeek(), TimeZone: "Asia/Shanghai"})
	if err != nil || sp.Revision != 2 {
		t.Fatalf("revision %d, %v", sp.Revision, err)
	}
	if _, err := s.PutCalendar(ctx, CalendarSpec{Week: [7][]Period{1: {{600, 500}}}}); err == nil {
		t.Error("a period ending before it starts was stored")
	}

	// Params: a unit stores only what it sets.
	o, err := ParseOverrides([]byte(`{"speed.default_kmh": 80, "disabled": ["silent"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutParams(ctx, g.bureau, o); err != nil {
		t.Fatal(err)
	}
	layers, err := s.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 || len(layers[g.bureau]) != 2 || string(layers[g.bureau]["speed.default_kmh"]) != "80" ||
		string(layers[g.bureau]["disabled"]) != `["silent"]` {
		t.Errorf("params: %v", layers)
	}
	// The city above sets another; the engine's policy takes each
	// parameter from the nearest unit that sets it.
	if o, err = ParseOverrides([]byte(`{"drive": {"min_duration": "5m"}, "speed.default_kmh": 100}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutParams(ctx, g.city, o); err != nil {
		t.Fatal(err)
	}
	// Stored defaults written before parameters were inherited one by one:
	// a whole Params, nanoseconds.
	if _, err := s.pool.Exec(ctx, `INSERT INTO alert_params (unit_id, params) VALUES (NULL,
		'{"drive":{"min_distance_m":700,"min_duration":120000000000,"moving_kmh":5,"stop_radius_m":100,"stop_duration":300000000000,"max_plausible_kmh":250},"area":{"fixes":3,"margin_m":150}}')`); err != nil {
		t.Fatal(err)
	}
	if l, err = s.LoadConfig(ctx, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	for u, want := range map[int64]string{
		g.bureau: "700 5m0s 80 150",
		g.city:   "700 5m0s 100 150",
		0:        "700 2m0s 120 150",
	} {
		p := l.Config.Policy.forUnit(u)
		if got := fmt.Sprintf("%v %v %v %v", p.Drive.MinDistanceM, p.Drive.MinDuration.D(), p.Speed.DefaultKmh, p.Area.MarginM); got != want {
			t.Errorf("unit %d: %s, want %s", u, got, want)
		}
	}

	// Fences: the shape round-trips; geom covers the same area.
	fs, err := s.Fences(ctx)
	if err != nil || len(fs) != 3 {
		t.Fatalf("fences %v, %v", fs, err)
	}
	var hotel Fence
	for _, f := range fs {
		if f.Kind == FenceSensitive {
			hotel = f
		}
	}
	if hotel.Category != PlaceHotel || hotel.Shape.RadiusM != 200 || hotel.UnitID != g.city || hotel.Version != 1 {
		t.Errorf("hotel %+v", hotel)
	}
	var area float64
	if err := s.pool.QueryRow(ctx, "SELECT ST_Area(geom::geography) FROM alert_fences WHERE id = $1", hotel.ID).Scan(&area); err != nil {
		t.Fatal(err)
	}
	if want := math.Pi * 200 * 200; math.Abs(area-want)/want > 0.02 {
		t.Errorf("hotel area %.0f m², want about %.0f", area, want)
	}
	var found []int64
	rows, err := s.pool.Query(ctx, "SELECT id FROM alert_fences WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) ORDER BY id", homeLon, homeLat)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		found = append(found, id)
	}
	if rows.Err() != nil || len(found) != 2 {
		t.Errorf("fences at home: %v, %v (want the city and the garage)", found, rows.Err())
	}
	hotel.DwellMin = 30
	if hotel, err = s.PutFence(ctx, hotel); err != nil || hotel.Version != 2 {
		t.Errorf("update: version %d, %v", hotel.Version, err)
	}
	if _, err := s.PutFence(ctx, Fence{Name: "x", Kind: FenceSensitive, UnitID: g.city, Shape: hotel.Shape}); err == nil {
		t.Error("a sensitive place without a category was stored")
	}
	corridor := Fence{Name: "路线", Kind: FenceSpeedZone, SpeedLimitKmh: 60, VehicleID: g.car,
		Shape: Shape{Type: ShapeCorridor, WidthM: 100, Line: []Point{{homeLon, homeLat}, {hotelLon, hotelLat}}}}
	if corridor, err = s.PutFence(ctx, corridor); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, "SELECT ST_Area(geom::geography) FROM alert_fences WHERE id = $1", corridor.ID).Scan(&area); err != nil {
		t.Fatal(err)
	}
	if want := 3000*100 + math.Pi*50*50; math.Abs(area-want)/want > 0.03 {
		t.Errorf("corridor area %.0f m², want about %.0f", area, want)
	}

	// Approvals: loaded by period.
	as, err := s.Approvals(ctx, g.car, at("2026-03-10 20:30"), at("2026-03-10 20:31"))
	if err != nil || len(as) != 1 || as[0].Driver != "张三" || as[0].Source != "fleetmon" || !as[0].End.Equal(at("2026-03-10 21:00")) {
		t.Errorf("approvals %+v, %v", as, err)
	}
	if as, _ := s.Approvals(ctx, 0, at("2026-03-11 00:00"), time.Time{}); len(as) != 0 {
		t.Errorf("approvals after the period: %+v", as)
	}

	// Vehicles carry what the rules read.
	if l, err = s.LoadConfig(ctx, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(l.Vehicles, func(v track.Vehicle) bool { return v.ID == g.sealed })
	if i < 0 || len(l.Config.Seals.of(g.sealed)) != 1 || l.Vehicles[i].UnitID != g.bureau || l.Vehicles[i].Category != track.CategoryGeneral {
		t.Errorf("vehicles %+v", l.Vehicles)
	}
}

// TestUpsertEpisodes: writing the same episodes again changes no row; a
// change updates the row and keeps its verification; the last of two
// versions in one batch wins.
func TestUpsertEpisodes(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	ep := Episode{ID: "e1", Status: EpisodeOpen, Rule: RuleAfterHours, VehicleID: g.car, UnitID: g.bureau,
		Start: at("2026-03-10 19:00"), StartLat: homeLat, StartLon: homeLon, Params: `[{"a":1}]`, ParamsVersion: "p1"}
	if n, err := g.store.UpsertEpisodes(ctx, []Episode{ep}); err != nil || n != 1 {
		t.Fatalf("insert: %d, %v", n, err)
	}
	if n, err := g.store.UpsertEpisodes(ctx, []Episode{ep}); err != nil || n != 0 {
		t.Fatalf("same again: %d rows changed, %v", n, err)
	}
	if ok, err := g.store.SetVerification(ctx, "e1", VerificationConfirmed); !ok || err != nil {
		t.Fatalf("set verification: %v, %v", ok, err)
	}
	if ok, err := g.store.SetVerification(ctx, "nope", VerificationConfirmed); ok || err != nil {
		t.Fatalf("set verification of a missing episode: %v, %v", ok, err)
	}
	closed := ep
	closed.Status, closed.End, closed.EndLat, closed.EndLon, closed.DistanceM = EpisodeClosed, at("2026-03-10 19:20"), hotelLat, hotelLon, 1234.5
	retracted := closed
	retracted.Status = EpisodeRetracted
	if n, err := g.store.UpsertEpisodes(ctx, []Episode{closed, retracted}); err != nil || n != 1 {
		t.Fatalf("update: %d, %v", n, err)
	}
	got, err := g.store.Episodes(ctx, EpisodeFilter{VehicleID: g.car, WithRetracted: true})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", got, err)
	}
	e := got[0]
	if e.Status != EpisodeRetracted || e.Verification != VerificationConfirmed || !e.End.Equal(closed.End) ||
		e.EndLat != hotelLat || e.EndLon != hotelLon || e.DistanceM != 1234.5 || !sameVerdict(&e.Episode, &retracted) {
		t.Errorf("stored %+v", e)
	}
	if got, _ := g.store.Episodes(ctx, EpisodeFilter{VehicleID: g.car}); len(got) != 0 {
		t.Errorf("retracted episode listed: %v", got)
	}
}

// TestOnCommitBlocksWhenFull: with its queue full, Committed waits for
// room instead of dropping; once Run consumes, it returns.
func TestOnCommitBlocksWhenFull(t *testing.T) {
	g := newRig(t)
	cfg := testRunnerConfig()
	cfg.Shards, cfg.QueueLen = 1, 1
	reg := prometheus.NewRegistry()
	r := NewRunner(g.store, cfg, testLog(), reg)
	g.regs.Store(r, reg)
	ps := g.sealedTrack()
	r.Committed(ps[:1]) // fills the queue
	done := make(chan struct{})
	go func() { defer close(done); r.Committed(ps[1:2]) }()
	deadline := time.Now().Add(30 * time.Second)
	for g.metric(r, "fleetmon_alerts_queue_full_total", "") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("OnCommit did not block on a full queue")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("OnCommit returned with the queue full")
	default:
	}
	g.cur.Store(r)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	<-done
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

// TestEnsureHolidaysConcurrent: nodes (and the runner's own loaders)
// seeding the embedded years at the same moment queue behind each other;
// in map order they deadlocked (seen in CI as SQLSTATE 40P01).
func TestEnsureHolidaysConcurrent(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	for round := range 200 {
		if _, err := g.store.pool.Exec(ctx, "DELETE FROM alert_holiday_years"); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 6)
		for range cap(errs) {
			go func() { errs <- g.store.EnsureHolidays(ctx) }()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	var n int
	if err := g.store.pool.QueryRow(ctx, "SELECT count(*) FROM alert_holiday_years").Scan(&n); err != nil || n != len(DefaultHolidays().Years()) {
		t.Errorf("%d years stored (%v), want %d", n, err, len(DefaultHolidays().Years()))
	}
}
