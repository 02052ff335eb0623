package alerts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNewHoursJudgeAfterHours: the bureau's afternoon ends at 17:30 (the
// city's standard week, which it inherits) and a drive at 16:10 is not
// judged. Its own calendar, stored as the API stores it (08:00–12:00,
// 14:30–16:00) and reloaded, makes a drive at 16:40 the same afternoon
// after-hours: judged by the positions' device time against the new
// hours; the earlier drive keeps its verdict.
func TestNewHoursJudgeAfterHours(t *testing.T) {
	g := newRig(t)
	ctx := context.Background()
	r, stop := g.start(testRunnerConfig())
	defer stop()
	b := newTrack(g.car, onDay(0, "16:00")).park(10*time.Minute, false, 0).drive(20*time.Minute, 40, 45).park(10*time.Minute, false, 0)
	first := len(b.out)
	g.write(b.out)
	g.waitFor(g.car, nil)

	week := [7][]Period{}
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Period{{8 * 60, 12 * 60}, {14*60 + 30, 16 * 60}}
	}
	spec, changed, err := g.store.PutCalendarIfChanged(ctx, CalendarSpec{UnitID: g.bureau, Week: week})
	if err != nil || !changed {
		t.Fatalf("store the bureau's calendar: %v (changed %v)", err, changed)
	}
	if _, again, err := g.store.PutCalendarIfChanged(ctx, CalendarSpec{UnitID: g.bureau, Week: week}); err != nil || again {
		t.Fatalf("the same calendar again: changed %v, %v", again, err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	b.drive(20*time.Minute, 40, 225).park(15*time.Minute, false, 0)
	g.write(b.out[first:])

	deadline := time.Now().Add(30 * time.Second)
	for {
		eps := g.stored(g.car)
		if len(eps) == 1 {
			ep := eps[0]
			start, end := ep.Start.In(shanghai).Format("15:04"), ep.End.In(shanghai).Format("15:04")
			if ep.Rule != RuleAfterHours || start < "16:39" || start > "16:40" || end < "16:59" || end > "17:00" {
				t.Fatalf("episode %s, want after-hours from about 16:40 to 17:00", describe(ep.Episode))
			}
			if !strings.HasPrefix(ep.CalendarVersion, fmt.Sprintf("cal%d.r%d.", spec.ID, spec.Revision)) {
				t.Errorf("judged with calendar %s, want the bureau's (id %d, revision %d)", ep.CalendarVersion, spec.ID, spec.Revision)
			}
			return
		}
		if len(eps) > 1 || time.Now().After(deadline) {
			t.Fatalf("stored episodes %v, want one after-hours from 16:40", storedNames(eps))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
