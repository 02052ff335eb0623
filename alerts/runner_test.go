package alerts

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

func testLog() *slog.Logger {
	if os.Getenv("FLEETMON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// rig is a migrated schema with two vehicles of a city bureau, their
// fences and calendar, and a track writer whose commits go to the
// current runner (none, a running one, or a stopped one).
type rig struct {
	t              *testing.T
	store          *Store
	w              *track.Writer
	cur            atomic.Pointer[Runner]
	regs           sync.Map // *Runner → *prometheus.Registry
	cancels        sync.Map // *Runner → context.CancelCauseFunc of its Run
	city, bureau   int64
	car, sealed    int64
	carTerm, slTrm int64
}

func newRig(t *testing.T) *rig {
	t.Helper()
	pg := pgtest.New(t)
	ctx := context.Background()
	ts := track.NewStore(pg.Pool)
	path := []string{"江苏省", "南京市", "市机关事务管理局"}
	_, _, err := ts.ImportVehicles(ctx, []track.VehicleImport{
		{Line: 2, Plate: "苏A00001", PlateColor: 1, TerminalPhone: "13800000001", UnitPath: path, Category: track.CategoryGeneral},
		{Line: 3, Plate: "苏A00002", PlateColor: 1, TerminalPhone: "13800000002", UnitPath: path, Category: track.CategoryGeneral},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, store: NewStore(pg.Pool)}
	q := func(sql string, args []any, dst ...any) {
		t.Helper()
		if err := pg.Pool.QueryRow(ctx, sql, args...).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	q("SELECT v.id, t.id, v.unit_id FROM vehicles v JOIN terminals t ON t.vehicle_id = v.id WHERE plate = $1", []any{"苏A00001"}, &g.car, &g.carTerm, &g.bureau)
	q("SELECT v.id, t.id FROM vehicles v JOIN terminals t ON t.vehicle_id = v.id WHERE plate = $1", []any{"苏A00002"}, &g.sealed, &g.slTrm)
	q("SELECT parent_id FROM units WHERE id = $1", []any{g.bureau}, &g.city)
	// 苏A00002 is sealed since before its tracks.
	if _, _, err := ts.SetSeal(ctx, track.All, g.sealed, track.SealChange{Sealed: true, At: at("2026-01-01 00:00"), Reason: "封存待处置", ActorName: "test"}); err != nil {
		t.Fatal(err)
	}

	if _, err := g.store.PutCalendar(ctx, CalendarSpec{UnitID: g.city, Week: StandardWeek()}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Fence{
		{Name: "市界", Kind: FencePermitted, UnitID: g.city, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{square(homeLat, homeLon, borderM)}}}},
		{Name: "机关车库", Kind: FenceParking, UnitID: g.bureau, Shape: Shape{Type: ShapePolygon, Polygons: []Polygon{{square(homeLat, homeLon, 150)}}}},
		{Name: "某酒店", Kind: FenceSensitive, Category: PlaceHotel, UnitID: g.city, Shape: Shape{Type: ShapeCircle, Center: Point{hotelLon, hotelLat}, RadiusM: 200}},
	} {
		if _, err := g.store.PutFence(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	// The evening trip back is approved (派车单).
	_, err = g.store.AddApproval(ctx, ApprovalRecord{
		Approval: Approval{VehicleID: g.car, Start: at("2026-03-10 20:00"), End: at("2026-03-10 21:00")},
		Driver:   "张三", Purpose: "接待", Approver: "李四",
	})
	if err != nil {
		t.Fatal(err)
	}

	g.w = track.NewWriter(pg.Pool, track.WriterConfig{Workers: 2}, testLog(), nil, track.TellCommitted(g))
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.w.Run(wctx, 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// Committed makes the rig the writer's CommitListener: it hands commits
// to the current runner.
func (g *rig) Committed(ps []track.Position) {
	if r := g.cur.Load(); r != nil {
		r.Committed(ps)
	}
}

// crash makes r's Run, started by start, return without draining or
// saving when it is stopped, as if the process died.
func (g *rig) crash(r *Runner) {
	if cancel, ok := g.cancels.Load(r); ok {
		cancel.(context.CancelCauseFunc)(errAbandoned)
	}
}

func testRunnerConfig() RunnerConfig {
	// The labelled tracks are in March 2026: load their approvals.
	// The clock stands at their start: the clock-driven checks judge
	// nothing (TestRunnerClock moves it).
	start := at("2026-03-10 00:00")
	return RunnerConfig{ApprovalLookback: 5 * 365 * 24 * time.Hour, RetryMax: time.Second,
		Clock: ClockConfig{Now: func() time.Time { return start }}}
}

// start runs a new runner wired to the writer; stop cancels it and waits
// for Run to return.
func (g *rig) start(cfg RunnerConfig) (r *Runner, stop func()) {
	reg := prometheus.NewRegistry()
	r = NewRunner(g.store, cfg, testLog(), reg)
	g.regs.Store(r, reg)
	ctx, cancel := context.WithCancelCause(context.Background())
	g.cancels.Store(r, cancel)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	g.cur.Store(r)
	var once atomic.Bool
	stop = func() {
		if once.Swap(true) {
			return
		}
		cancel(nil)
		if err := <-done; err != nil {
			g.t.Errorf("run: %v", err)
		}
	}
	g.t.Cleanup(stop)
	return r, stop
}

// write stores ps through the writer as a terminal reports them, a few
// at a time, each Write waiting for its commit.
func (g *rig) write(ps []track.Position) {
	g.t.Helper()
	for len(ps) > 0 {
		n := min(len(ps), 4)
		chunk := slices.Clone(ps[:n])
		ps = ps[n:]
		tid := g.carTerm
		if chunk[0].VehicleID == g.sealed {
			tid = g.slTrm
		}
		for i := range chunk {
			chunk[i].TerminalID, chunk[i].Received, chunk[i].FrameID = tid, time.Now(), track.NewFrameID()
		}
		if err := g.w.Write(context.Background(), tid, chunk, nil); err != nil {
			g.t.Fatal(err)
		}
	}
}

// expect runs a fresh in-memory engine, with the configuration as stored,
// over ps in device-time order: what the episodes table must end with.
func (g *rig) expect(ps []track.Position) []Episode {
	g.t.Helper()
	l, err := g.store.LoadConfig(context.Background(), LoadOptions{})
	if err != nil {
		g.t.Fatal(err)
	}
	w := &world{cfg: l.Config}
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b track.Position) int { return a.Time.Compare(b.Time) })
	var v track.Vehicle
	for _, x := range l.Vehicles {
		if x.ID == ps[0].VehicleID {
			v = x
		}
	}
	return w.run(g.t, v, ps)
}

// stored returns the vehicle's episodes in the table, retracted ones
// left out.
func (g *rig) stored(vid int64) []StoredEpisode {
	g.t.Helper()
	eps, err := g.store.Episodes(context.Background(), EpisodeFilter{VehicleID: vid})
	if err != nil {
		g.t.Fatal(err)
	}
	return eps
}

func describeAll[E any](eps []E, ep func(*E) *Episode) []string {
	out := make([]string, len(eps))
	for i := range eps {
		out[i] = describe(*ep(&eps[i]))
	}
	slices.Sort(out)
	return out
}

func storedNames(eps []StoredEpisode) []string {
	return describeAll(eps, func(e *StoredEpisode) *Episode { return &e.Episode })
}

func episodeNames(eps []Episode) []string {
	return describeAll(eps, func(e *Episode) *Episode { return e })
}

// waitFor polls the vehicle's stored episodes until they are want (by
// verdict), or fails at the deadline.
func (g *rig) waitFor(vid int64, want []Episode) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := g.stored(vid)
		if g.same(got, want) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("vehicle %d: stored episodes\n\t%s\nwant\n\t%s", vid,
				strings.Join(storedNames(got), "\n\t"), strings.Join(episodeNames(want), "\n\t"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitNames polls the vehicle's stored episodes until they are want (as
// describe names them), or fails at the deadline.
func (g *rig) waitNames(vid int64, want []string) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := storedNames(g.stored(vid))
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("vehicle %d: stored episodes %v, want %v", vid, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *rig) same(got []StoredEpisode, want []Episode) bool {
	if len(got) != len(want) {
		return false
	}
	byID := map[string]*Episode{}
	for i := range want {
		byID[want[i].ID] = &want[i]
	}
	for i := range got {
		w := byID[got[i].ID]
		if w == nil || !sameVerdict(&got[i].Episode, w) || got[i].CalendarVersion != w.CalendarVersion ||
			got[i].ParamsVersion != w.ParamsVersion || got[i].UnitID != w.UnitID {
			return false
		}
	}
	return true
}

// carTrack is a workday evening: an unapproved trip at 19:00, then an
// approved one back at 20:10.
func (g *rig) carTrack() []track.Position {
	return newTrack(g.car, "2026-03-10 18:50").park(10*time.Minute, false, 0).
		drive(20*time.Minute, 40, 45).park(50*time.Minute, false, 0).
		drive(20*time.Minute, 40, 225).park(10*time.Minute, false, 0).out
}

// sealedTrack moves a sealed car in working hours.
func (g *rig) sealedTrack() []track.Position {
	return newTrack(g.sealed, "2026-03-10 10:00").park(5*time.Minute, false, 0).
		drive(15*time.Minute, 40, 90).park(10*time.Minute, false, 0).out
}

func TestRunnerStoresEpisodes(t *testing.T) {
	g := newRig(t)
	r, stop := g.start(testRunnerConfig())
	car, sealed := g.carTrack(), g.sealedTrack()
	wantCar, wantSealed := g.expect(car), g.expect(sealed)
	if got := episodeNames(wantCar); !slices.Equal(got, []string{"after_hours 03-10 18:59:30–03-10 19:19:30"}) {
		t.Fatalf("labelled car track: %v", got)
	}
	if got := episodeNames(wantSealed); len(got) != 1 || !strings.HasPrefix(got[0], "sealed_move 03-10 10:0") {
		t.Fatalf("labelled sealed track: %v", got)
	}
	g.write(car)
	g.write(sealed)
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)
	stop()
	// Nothing more arrives after the drain, and nothing was retracted.
	g.waitFor(g.car, wantCar)
	g.waitFor(g.sealed, wantSealed)
	all, err := g.store.Episodes(context.Background(), EpisodeFilter{WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("%d rows, want 2: %v", len(all), storedNames(all))
	}
	for _, ep := range all {
		if ep.Verification != VerificationOpen || ep.Params == "" || ep.Params == "{}" {
			t.Errorf("episode %s: verification %q, params %q", ep.ID, ep.Verification, ep.Params)
		}
	}
	if n := g.metric(r, "fleetmon_alerts_positions_total", "live"); n != float64(len(car)+len(sealed)) {
		t.Errorf("%v positions evaluated, want %d", n, len(car)+len(sealed))
	}
}

// TestRunnerBackfill: the middle of the evening trip is uploaded later
// from the terminal's blind-zone buffer. Live, the gap looks like a
// terminal switched off while driving (silent); the back-fill retracts
// that and the stored episodes end as if the track had come in order.
func TestRunnerBackfill(t *testing.T) {
	g := newRig(t)
	_, stop := g.start(testRunnerConfig())
	car := g.carTrack()
	want := g.expect(car)
	var live, blind []track.Position
	for _, p := range car {
		if p.Time.After(at("2026-03-10 19:02")) && p.Time.Before(at("2026-03-10 19:15")) {
			p.Backfill = true
			blind = append(blind, p)
		} else {
			live = append(live, p)
		}
	}
	g.write(live)
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(g.stored(g.car), func(e StoredEpisode) bool { return e.Rule == RuleSilent }) {
		if time.Now().After(deadline) {
			t.Fatalf("no silent episode over the blind zone: %v", storedNames(g.stored(g.car)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.write(blind)
	g.waitFor(g.car, want)
	stop()
	g.waitFor(g.car, want)
	all, err := g.store.Episodes(context.Background(), EpisodeFilter{VehicleID: g.car, WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range all {
		if ep.Rule == RuleSilent && ep.Status != EpisodeRetracted {
			t.Errorf("silent episode not retracted: %s", describe(ep.Episode))
		}
	}
}

// TestRunnerRestart interrupts the rules three ways mid-trip: a clean
// stop, positions committed while no runner runs, and a crash that loses
// the state since the last save. The episodes end as those of an
// uninterrupted run: none missing, none extra.
func TestRunnerRestart(t *testing.T) {
	g := newRig(t)
	car := g.carTrack()
	want := g.expect(car)
	cfg := testRunnerConfig()

	r1, stop1 := g.start(cfg)
	g.write(car[:35]) // the trip has started
	waitCount(t, func() float64 { return g.metric(r1, "fleetmon_alerts_positions_total", "live") }, 35)
	stop1()
	if open := g.stored(g.car); len(open) != 1 || open[0].Status != EpisodeOpen {
		t.Fatalf("mid-trip: %v", storedNames(open))
	}

	g.write(car[35:50]) // committed while the rules are down
	if n := g.metric(r1, "fleetmon_alerts_dropped_positions_total", ""); n == 0 {
		t.Error("positions after stop not counted as dropped")
	}

	cfg2 := cfg
	cfg2.StateEvery = time.Hour // the crash loses everything since runner 1's save
	r2, stop2 := g.start(cfg2)
	g.write(car[50:80])
	waitCount(t, func() float64 { return g.metric(r2, "fleetmon_alerts_positions_total", "live") }, 30)
	g.crash(r2)
	stop2()

	r3, stop3 := g.start(cfg)
	g.write(car[80:])
	g.waitFor(g.car, want)
	stop3()
	g.waitFor(g.car, want)
	if n := g.metric(r3, "fleetmon_alerts_positions_total", "catch_up"); n < 45 {
		t.Errorf("runner 3 replayed %v positions, want the 45 after runner 1's save", n)
	}
	all, err := g.store.Episodes(context.Background(), EpisodeFilter{WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("rows %v, want %v", storedNames(all), episodeNames(want))
	}
}

// metric returns the value of a counter of r, of the series whose one
// label has value label ("" for none).
func (g *rig) metric(r *Runner, name, label string) float64 {
	g.t.Helper()
	reg, _ := g.regs.Load(r)
	mfs, err := reg.(*prometheus.Registry).Gather()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func waitCount(t *testing.T, f func() float64, n float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f() < n {
		if time.Now().After(deadline) {
			t.Fatalf("counted %v, want %v", f(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReevaluate: the unit declares 10 March a long working day (until
// 19:10). Re-evaluating shows that the after-hours episode now starts at
// 19:10 (a new episode) and the old one goes; nothing changes until it is
// applied.
func TestReevaluate(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	r, stop := g.start(testRunnerConfig())
	car := g.carTrack()
	g.write(car)
	g.waitFor(g.car, g.expect(car))
	stop()
	before := g.stored(g.car)

	spec := CalendarSpec{UnitID: g.city, Week: StandardWeek(), Overrides: []Override{{
		Date: MustDate("2026-03-10"), Kind: Workday, Name: "加班",
		Periods: []Period{{8*60 + 30, 12 * 60}, {14 * 60, 19*60 + 10}},
	}}}
	if _, err := g.store.PutCalendar(ctx, spec); err != nil {
		t.Fatal(err)
	}
	from, to := at("2026-03-10 00:00"), at("2026-03-11 00:00")
	d, err := r.Reevaluate(ctx, g.car, from, to, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range d.Changes {
		ep := c.New
		if ep == nil {
			ep = &c.Old.Episode
		}
		got = append(got, string(c.Kind)+" "+describe(*ep))
	}
	wantDiff := []string{
		"added after_hours 03-10 19:10:00–03-10 19:19:30",
		"retracted after_hours 03-10 18:59:30–03-10 19:19:30",
	}
	if !slices.Equal(got, wantDiff) || d.Applied {
		t.Fatalf("diff %v (applied %v), want %v", got, d.Applied, wantDiff)
	}
	if after := g.stored(g.car); !slices.Equal(storedNames(after), storedNames(before)) {
		t.Fatalf("a dry run changed the table: %v", storedNames(after))
	}

	d, err = r.Reevaluate(ctx, g.car, from, to, true)
	if err != nil || !d.Applied || len(d.Changes) != 2 {
		t.Fatalf("apply: %+v, %v", d, err)
	}
	after := g.stored(g.car)
	if got := storedNames(after); !slices.Equal(got, []string{"after_hours 03-10 19:10:00–03-10 19:19:30"}) {
		t.Fatalf("applied: %v", got)
	}
	if !strings.Contains(after[0].CalendarVersion, ".r2.") {
		t.Errorf("calendar version %q, want revision 2", after[0].CalendarVersion)
	}
	all, err := g.store.Episodes(ctx, EpisodeFilter{VehicleID: g.car, WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Status != EpisodeRetracted {
		t.Errorf("the old episode should stay, retracted: %v", all)
	}
	d, err = r.Reevaluate(ctx, g.car, from, to, false)
	if err != nil || len(d.Changes) != 0 || d.Unchanged != 1 {
		t.Fatalf("after applying: %+v, %v", d, err)
	}
}

// TestRunnerClock: the car parks outside the garage in the afternoon and
// its terminal sleeps. The clock opens 夜间未入库 at 22:00 without a fix;
// a restart judges it again without a second row or a change; in the
// morning the car is seen in the garage (closing it), and then the
// terminal's blind-zone buffer shows it had driven home at 16:35: the
// alert is retracted, as if the data had come on time.
func TestRunnerClock(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	cfg := testRunnerConfig()
	var now atomic.Pointer[time.Time]
	setNow := func(s string) { tm := at(s); now.Store(&tm) }
	setNow("2026-03-10 16:00")
	// The runner's own ticker never fires in the test: ticks are Tick's.
	cfg.Clock = ClockConfig{Now: func() time.Time { return *now.Load() }, Every: time.Hour, Lag: time.Minute}

	away := newTrack(g.car, "2026-03-10 16:00").park(5*time.Minute, false, 0).drive(10*time.Minute, 30, 90).
		park(10*time.Minute, false, 0).out
	r1, stop1 := g.start(cfg)
	g.write(away)
	waitCount(t, func() float64 { return g.metric(r1, "fleetmon_alerts_positions_total", "live") }, float64(len(away)))
	if err := r1.Tick(ctx, at("2026-03-10 21:59")); err != nil {
		t.Fatal(err)
	}
	if got := storedNames(g.stored(g.car)); len(got) != 0 {
		t.Fatalf("before the check: %v", got)
	}
	setNow("2026-03-10 22:02")
	if err := r1.Tick(ctx, at("2026-03-10 22:02")); err != nil {
		t.Fatal(err)
	}
	want := []string{"night_parking 03-10 22:00:00–open"}
	if got := storedNames(g.stored(g.car)); !slices.Equal(got, want) {
		t.Fatalf("after the check: %v, want %v", got, want)
	}
	stop1()

	setNow("2026-03-10 23:30")
	r2, stop2 := g.start(cfg)
	if err := r2.Tick(ctx, at("2026-03-10 23:30")); err != nil {
		t.Fatal(err)
	}
	if n := g.metric(r2, "fleetmon_alerts_episode_rows_written_total", ""); n != 0 {
		t.Errorf("a restart wrote %v episode rows, want 0", n)
	}
	if got := storedNames(g.stored(g.car)); !slices.Equal(got, want) {
		t.Fatalf("after a restart: %v, want %v", got, want)
	}

	setNow("2026-03-11 08:10")
	g.write(newTrack(g.car, "2026-03-11 08:00").park(5*time.Minute, false, 0).out)
	g.waitNames(g.car, []string{"night_parking 03-10 22:00:00–03-11 08:00:00"})
	// The blind-zone buffer: home at 16:35, parked.
	b := newTrack(g.car, "2026-03-10 16:25")
	b.lat, b.lon = away[len(away)-1].Lat, away[len(away)-1].Lon
	b.drive(10*time.Minute, 30, 270).park(20*time.Minute, false, 0)
	for i := range b.out {
		b.out[i].Backfill = true
	}
	g.write(b.out)
	all := slices.Concat(away, b.out, newTrack(g.car, "2026-03-11 08:00").park(5*time.Minute, false, 0).out)
	g.waitFor(g.car, g.expect(all))
	stop2()
	rows, err := g.store.Episodes(ctx, EpisodeFilter{VehicleID: g.car, WithRetracted: true})
	if err != nil {
		t.Fatal(err)
	}
	// (Other retracted rows are the verdicts of the back-fill's first
	// chunks, written 4 positions at a time.)
	rows = slices.DeleteFunc(rows, func(e StoredEpisode) bool { return e.Rule != RuleNightParking })
	if len(rows) != 1 || rows[0].Status != EpisodeRetracted {
		t.Errorf("night check rows %v (%v), want it kept as retracted", storedNames(rows), rows)
	}
}
