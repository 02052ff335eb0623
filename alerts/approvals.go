package alerts

import (
	"fmt"
	"slices"
	"time"
)

// Approval is an approved dispatch order (派车单): the vehicle may be used
// in [Start, End), and, when FenceID is set, only inside that fence.
type Approval struct {
	ID        int64     `json:"id"`
	VehicleID int64     `json:"vehicle_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	FenceID   int64     `json:"fence_id,omitempty"`
}

// Approvals indexes approvals by vehicle. Immutable once built.
type Approvals struct {
	byVehicle map[int64][]Approval
}

// NewApprovals indexes the approvals.
func NewApprovals(as []Approval) (*Approvals, error) {
	a := &Approvals{byVehicle: map[int64][]Approval{}}
	for _, x := range as {
		if !x.End.After(x.Start) {
			return nil, fmt.Errorf("alerts: approval %d: end not after start", x.ID)
		}
		a.byVehicle[x.VehicleID] = append(a.byVehicle[x.VehicleID], x)
	}
	for _, l := range a.byVehicle {
		slices.SortFunc(l, func(x, y Approval) int { return x.Start.Compare(y.Start) })
	}
	return a, nil
}

// approvalAt says whether an approval covers the vehicle at t (at fix f),
// when that may change next, and which approval ended during the drive.
func (v *vehicle) approvalAt(t time.Time, f Fix, fences *FenceSet) (covered bool, next time.Time, overrun int64) {
	var overrunEnd time.Time
	for i := range v.approvals {
		a := &v.approvals[i]
		if a.Start.After(t) {
			if next.IsZero() || a.Start.Before(next) {
				next = a.Start
			}
			continue
		}
		if t.Before(a.End) {
			if next.IsZero() || a.End.Before(next) {
				next = a.End
			}
			if a.FenceID == 0 {
				covered = true
			} else if c := fences.byID[a.FenceID]; c != nil && c.contains(f.Lat, f.Lon) {
				covered = true
			}
			continue
		}
		if !a.End.Before(v.st.Drive.Start.Time) && a.End.After(overrunEnd) {
			overrunEnd, overrun = a.End, a.ID
		}
	}
	return covered, next, overrun
}

// SetApprovals replaces the approvals the engine holds for a registered
// vehicle with as (the engine keeps the slice; the caller must not change
// it). A runner that loads approvals per vehicle for the device times it
// judges, rather than all of them in Config, sets them here before it
// feeds the fixes they cover. SetVehicle and SetConfig replace them with
// Config's again.
func (e *Engine) SetApprovals(vehicleID int64, as []Approval) {
	v := e.vs[vehicleID]
	if v == nil {
		return
	}
	slices.SortFunc(as, func(x, y Approval) int { return x.Start.Compare(y.Start) })
	v.approvals = as
}
