package alerts

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
)

// TestDispatchReport runs the rules' drive detection over labelled
// tracks of two vehicles and compares the drives with the approvals
// (派车单): 无单出车 and 有单无车 of one day.
func TestDispatchReport(t *testing.T) {
	car2 := track.Vehicle{ID: 2, UnitID: unitBureau, Category: track.CategoryGeneral}
	ap := func(id, vid int64, from, to string) Approval {
		return Approval{ID: id, VehicleID: vid, Start: at(from), End: at(to)}
	}
	cases := []struct {
		name      string
		day       string
		tracks    map[int64]func() []track.Position
		approvals []Approval
		want      []string
	}{
		{
			name: "approved trip inside its window",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 09:50").park(10*time.Minute, false, 0).drive(20*time.Minute, 40, 45).park(20*time.Minute, false, 0).out
			}},
			approvals: []Approval{ap(7, 1, "2026-03-10 09:30", "2026-03-10 11:00")},
		},
		{
			name: "trip in working hours without an order",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 09:50").park(10*time.Minute, false, 0).drive(20*time.Minute, 40, 45).park(20*time.Minute, false, 0).out
			}},
			want: []string{"no_order car 1 09:59:30–10:19:30 outside 20m"},
		},
		{
			name: "approval window overrun",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).drive(20*time.Minute, 40, 45).park(20*time.Minute, false, 0).out
			}},
			approvals: []Approval{ap(7, 1, "2026-03-10 18:30", "2026-03-10 19:10")},
			want:      []string{"overrun car 1 18:59:30–19:19:30 outside 9m30s approval 7"},
		},
		{
			name: "two approvals back to back cover one drive",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).drive(20*time.Minute, 40, 45).park(20*time.Minute, false, 0).out
			}},
			approvals: []Approval{ap(7, 1, "2026-03-10 18:30", "2026-03-10 19:10"), ap(8, 1, "2026-03-10 19:10", "2026-03-10 20:00")},
		},
		{
			name: "trip crossing midnight is the evening's",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 23:40").park(10*time.Minute, false, 0).drive(30*time.Minute, 40, 45).park(10*time.Minute, false, 0).out
			}},
			want: []string{"no_order car 1 23:49:30–00:19:30 outside 30m"},
		},
		{
			name: "the next day does not see the night's trip again",
			day:  "2026-03-11",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 23:40").park(10*time.Minute, false, 0).drive(30*time.Minute, 40, 45).park(10*time.Minute, false, 0).out
			}},
		},
		{
			name: "approval for another vehicle",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{
				1: func() []track.Position {
					return newTrack(1, "2026-03-10 18:50").park(10*time.Minute, false, 0).drive(20*time.Minute, 40, 45).park(20*time.Minute, false, 0).out
				},
				2: func() []track.Position { return newTrack(2, "2026-03-10 18:00").park(3*time.Hour, false, 0).out },
			},
			approvals: []Approval{ap(9, 2, "2026-03-10 18:30", "2026-03-10 20:00")},
			want:      []string{"no_order car 1 18:59:30–19:19:30 outside 20m", "undriven approval 9 car 2 18:30–20:00"},
		},
		{
			name: "parked with GPS jitter is not a trip: the order was never driven",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 08:00").park(3*time.Hour, true, 80).park(3*time.Hour, false, 300).out
			}},
			approvals: []Approval{ap(7, 1, "2026-03-10 09:00", "2026-03-10 12:00")},
			want:      []string{"undriven approval 7 car 1 09:00–12:00"},
		},
		{
			name: "an order for tomorrow is tomorrow's",
			day:  "2026-03-10",
			tracks: map[int64]func() []track.Position{1: func() []track.Position {
				return newTrack(1, "2026-03-10 08:00").park(time.Hour, false, 0).out
			}},
			approvals: []Approval{ap(7, 1, "2026-03-11 09:00", "2026-03-11 12:00")},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, testFences(), c.approvals)
			var drives []Drive
			for vid, tr := range c.tracks {
				v := general
				if vid == 2 {
					v = car2
				}
				ds, err := DrivesOf(w.cfg, v, tr())
				if err != nil {
					t.Fatal(err)
				}
				drives = append(drives, ds...)
			}
			rep := JudgeDispatch(MustDate(c.day), shanghai, drives, c.approvals)
			got := []string{}
			hm := func(t time.Time) string { return t.In(shanghai).Format("15:04:05") }
			for _, f := range rep.NoOrder {
				s := fmt.Sprintf("%s car %d %s–%s outside %s", f.Kind, f.Drive.VehicleID, hm(f.Drive.Start), hm(f.Drive.End), f.Outside)
				if f.ApprovalID != 0 {
					s += fmt.Sprintf(" approval %d", f.ApprovalID)
				}
				got = append(got, s)
			}
			for _, a := range rep.Undriven {
				got = append(got, fmt.Sprintf("undriven approval %d car %d %s–%s", a.ID, a.VehicleID,
					a.Start.In(shanghai).Format("15:04"), a.End.In(shanghai).Format("15:04")))
			}
			want := c.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}
