package alerts

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"fleetmon/track"
)

// DispatchKind says why a drive is in the dispatch report.
type DispatchKind string

// The findings of the daily dispatch report (派车单 against the tracks).
const (
	// DispatchNoOrder is 无单出车: no approval of the vehicle overlaps the
	// drive.
	DispatchNoOrder DispatchKind = "no_order"
	// DispatchOverrun: the drive overlaps an approval but starts before or
	// ends after its window (the part outside is 无单出车 too).
	DispatchOverrun DispatchKind = "overrun"
)

// DispatchFinding is a drive without an approval covering it.
type DispatchFinding struct {
	Kind  DispatchKind `json:"kind"`
	Drive Drive        `json:"drive"`
	// ApprovalID is the approval overrun (DispatchOverrun).
	ApprovalID int64 `json:"approval_id,omitempty"`
	// Outside is how much of the drive no approval covers.
	Outside Duration `json:"outside"`
}

// DispatchDay is one day's dispatch report for a set of vehicles.
type DispatchDay struct {
	Date Date `json:"date"`
	// NoOrder are the drives starting that day (local time) that no
	// approval covers in full: 无单出车.
	NoOrder []DispatchFinding `json:"no_order"`
	// Undriven are the approvals whose window starts that day and that no
	// drive of their vehicle overlaps: 有单无车.
	Undriven []Approval `json:"undriven"`
	// Trips compare each approval whose window starts that day with its
	// vehicle's track (DispatchReport fills them in).
	Trips []TripCheck `json:"trips"`
	// Drives counts the drives starting that day, Approvals the approvals.
	Drives, Approvals int
}

// JudgeDispatch compares one day's drives with the approvals, for the
// vehicles whose drives and approvals are given. A drive belongs to the
// day it starts on (a night trip crossing midnight is the evening's); an
// approval to the day its window starts on. Drives should be read from
// before the day to after it, so that a drive under way at midnight is
// whole. An approval's destination area is not checked here: the rules
// judge it at every fix (非工作时间用车 names the approval overrun).
func JudgeDispatch(day Date, loc *time.Location, drives []Drive, approvals []Approval) DispatchDay {
	lo, hi := day.In(loc), day.AddDays(1).In(loc)
	in := func(t time.Time) bool { return !t.Before(lo) && t.Before(hi) }
	out := DispatchDay{Date: day, NoOrder: []DispatchFinding{}, Undriven: []Approval{}}
	byVehicle := map[int64][]Approval{}
	for _, a := range approvals {
		byVehicle[a.VehicleID] = append(byVehicle[a.VehicleID], a)
	}
	for _, d := range drives {
		if !in(d.Start) {
			continue
		}
		out.Drives++
		// The approval overlapping the drive most is the one it overran;
		// several may cover one drive end to end.
		var best *Approval
		most := time.Duration(0)
		for i, a := range byVehicle[d.VehicleID] {
			if c := overlap(d.Start, d.End, a.Start, a.End); c > most {
				best, most = &byVehicle[d.VehicleID][i], c
			}
		}
		outside := d.End.Sub(d.Start) - coveredBy(d.Start, d.End, byVehicle[d.VehicleID])
		switch {
		case best == nil:
			out.NoOrder = append(out.NoOrder, DispatchFinding{Kind: DispatchNoOrder, Drive: d, Outside: Duration(outside)})
		case outside > 0:
			out.NoOrder = append(out.NoOrder, DispatchFinding{Kind: DispatchOverrun, Drive: d, ApprovalID: best.ID, Outside: Duration(outside)})
		}
	}
	for _, a := range approvals {
		if !in(a.Start) {
			continue
		}
		out.Approvals++
		driven := slices.ContainsFunc(drives, func(d Drive) bool {
			return d.VehicleID == a.VehicleID && overlap(d.Start, d.End, a.Start, a.End) > 0
		})
		if !driven {
			out.Undriven = append(out.Undriven, a)
		}
	}
	slices.SortFunc(out.NoOrder, func(x, y DispatchFinding) int {
		return cmp.Or(x.Drive.Start.Compare(y.Drive.Start), cmp.Compare(x.Drive.VehicleID, y.Drive.VehicleID))
	})
	slices.SortFunc(out.Undriven, func(x, y Approval) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.ID, y.ID))
	})
	return out
}

// overlap is the length of [a0, a1) ∩ [b0, b1).
func overlap(a0, a1, b0, b1 time.Time) time.Duration {
	lo, hi := maxTime(a0, b0), a1
	if b1.Before(hi) {
		hi = b1
	}
	if !hi.After(lo) {
		return 0
	}
	return hi.Sub(lo)
}

// coveredBy is how much of [from, to) the approvals' windows cover
// together.
func coveredBy(from, to time.Time, as []Approval) time.Duration {
	ws := make([][2]time.Time, 0, len(as))
	for _, a := range as {
		if overlap(from, to, a.Start, a.End) > 0 {
			ws = append(ws, [2]time.Time{maxTime(from, a.Start), minTime(to, a.End)})
		}
	}
	slices.SortFunc(ws, func(x, y [2]time.Time) int { return x[0].Compare(y[0]) })
	var total time.Duration
	var end time.Time
	for _, w := range ws {
		if w[0].Before(end) {
			w[0] = end
		}
		if w[1].After(w[0]) {
			total += w[1].Sub(w[0])
			end = w[1]
		}
	}
	return total
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// dispatchLead is how much data around the day DispatchReport reads: a
// drive under way at midnight is seen whole, from its start the evening
// before to its end the morning after.
const dispatchLead = 12 * time.Hour

// DispatchReport is the dispatch report of one day (local time of the
// vehicles' calendars, the default's for the day's bounds) for the
// vehicles given: their drives as the rules see them, against the stored
// approvals. It reads each vehicle's positions once, in device order.
func (s *Store) DispatchReport(ctx context.Context, day Date, vehicles []track.Vehicle) (DispatchDay, error) {
	lo, hi := day.In(time.UTC).Add(-dispatchLead-24*time.Hour), day.AddDays(1).In(time.UTC).Add(dispatchLead+24*time.Hour)
	l, err := s.LoadConfig(ctx, LoadOptions{ApprovalsFrom: lo, ApprovalsTo: hi})
	if err != nil {
		return DispatchDay{}, fmt.Errorf("dispatch report %s: %w", day, err)
	}
	loc := l.Config.Calendars.For(0).loc
	start, end := day.In(loc), day.AddDays(1).In(loc)
	var drives []Drive
	var approvals []Approval
	ids := make([]int64, 0, len(vehicles))
	for _, v := range vehicles {
		ids = append(ids, v.ID)
		ps, err := s.Positions(ctx, v.ID, start.Add(-dispatchLead), end.Add(dispatchLead))
		if err != nil {
			return DispatchDay{}, fmt.Errorf("dispatch report %s: %w", day, err)
		}
		ds, err := DrivesOf(l.Config, v, ps)
		if err != nil {
			return DispatchDay{}, fmt.Errorf("dispatch report %s: vehicle %d: %w", day, v.ID, err)
		}
		drives = append(drives, ds...)
		if l.Config.Approvals != nil {
			approvals = append(approvals, l.Config.Approvals.byVehicle[v.ID]...)
		}
	}
	out := JudgeDispatch(day, loc, drives, approvals)
	if out.Trips, err = s.checkTrips(ctx, ids, drives, start, end); err != nil {
		return DispatchDay{}, fmt.Errorf("dispatch report %s: %w", day, err)
	}
	return out, nil
}
