package alerts

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// The statistics (台账) offices file every quarter: per vehicle, for a
// period of days, what track's per-day figures (track.VehicleDay) sum to,
// judged against the vehicle's unit calendar (working days with 调休,
// working hours), and the alerts of the period by rule and by
// verification. The calendar is applied here, when a report is asked
// for, and not when the days are summarised: a unit's calendar edited
// afterwards changes its figures without recomputing anything.

// LedgerRow is one vehicle's figures for a period.
type LedgerRow struct {
	VehicleID int64
	Trips     int
	// DistanceM is along the reports (track.Analysis, gaps excluded).
	DistanceM float64
	// OdometerKm is the odometer's advance over the period, midnights
	// included; NaN without two readings.
	OdometerKm float64
	Driving    time.Duration
	// DaysUsed are the days with a trip; WorkingDays the period's working
	// days by the unit's calendar (make-up workdays included, holidays
	// and the unit's days off not) up to the report's date, and
	// UsedWorkingDays those of them with a trip.
	DaysUsed, WorkingDays, UsedWorkingDays int
	// AfterHoursTrips start on a working day and are not wholly inside
	// one of its working periods; HolidayTrips start on a day that is not
	// a working day (weekend, holiday, the unit's day off).
	AfterHoursTrips, HolidayTrips int
	// Alerts counts the episodes that started in the period, retracted
	// ones left out, by rule and by verification.
	Alerts       map[RuleID]int
	Verification map[Verification]int
}

// Ledger sums the days of each vehicle (as track.Store.VehicleDays returns
// them: by vehicle, then day) over [from, to) and judges them against the
// calendar of the vehicle's unit; working days are counted up to until
// (exclusive; the report's date, for a period not over yet). It returns a
// row for every vehicle given, in their order, a vehicle without days
// included (unused).
func Ledger(cals *Calendars, vehicles []track.Vehicle, days []track.VehicleDay, counts []EpisodeCount, from, to, until Date) []LedgerRow {
	byVehicle := make(map[int64][]track.VehicleDay, len(vehicles))
	for _, d := range days {
		byVehicle[d.VehicleID] = append(byVehicle[d.VehicleID], d)
	}
	alertsOf := make(map[int64][]EpisodeCount)
	for _, c := range counts {
		alertsOf[c.VehicleID] = append(alertsOf[c.VehicleID], c)
	}
	if to.In(time.UTC).Before(until.In(time.UTC)) {
		until = to
	}
	// Working days per calendar, counted once for the vehicles sharing it.
	working := map[*Calendar]map[Date]bool{}
	out := make([]LedgerRow, len(vehicles))
	for i, v := range vehicles {
		cal := cals.For(v.UnitID)
		wd, ok := working[cal]
		if !ok {
			wd = map[Date]bool{}
			for d := from; d.In(time.UTC).Before(until.In(time.UTC)); d = d.AddDays(1) {
				if k, _ := cal.DayKind(d); k.Working() {
					wd[d] = true
				}
			}
			working[cal] = wd
		}
		row := LedgerRow{VehicleID: v.ID, WorkingDays: len(wd), OdometerKm: math.NaN(),
			Alerts: map[RuleID]int{}, Verification: map[Verification]int{}}
		var odo float64
		odoKnown := false
		readings := 0
		lastOdo := math.NaN()
		for _, d := range byVehicle[v.ID] {
			row.Trips += d.Trips
			row.DistanceM += d.DistanceM
			row.Driving += d.Driving
			if !math.IsNaN(d.OdometerFirst) {
				readings++
				if !math.IsNaN(lastOdo) && d.OdometerFirst >= lastOdo {
					odo += d.OdometerFirst - lastOdo // across the midnight before
				}
				if !math.IsNaN(d.OdometerKm) {
					odo += d.OdometerKm
					odoKnown = true
				}
				lastOdo = d.OdometerLast
			}
			if d.Trips > 0 {
				row.DaysUsed++
				if wd[DateOf(d.Day)] {
					row.UsedWorkingDays++
				}
			}
			for k := range d.TripStarts {
				switch tripTime(cal, d.TripStarts[k], d.TripEnds[k]) {
				case tripAfterHours:
					row.AfterHoursTrips++
				case tripHoliday:
					row.HolidayTrips++
				}
			}
		}
		if odoKnown || readings >= 2 {
			row.OdometerKm = odo
		}
		for _, c := range alertsOf[v.ID] {
			row.Alerts[c.Rule] += c.N
			row.Verification[c.Verification] += c.N
		}
		out[i] = row
	}
	return out
}

type tripKind uint8

const (
	tripWorking tripKind = iota
	tripAfterHours
	tripHoliday
)

// tripTime says when a trip was driven by cal: on a day off, on a working
// day outside (or partly outside) its working periods, or within one.
func tripTime(cal *Calendar, start, end time.Time) tripKind {
	d := DateOf(start.In(cal.Location()))
	if k, _ := cal.DayKind(d); !k.Working() {
		return tripHoliday
	}
	for _, p := range cal.WorkingPeriods(d) {
		if !start.Before(p.Start) && !end.After(p.End) {
			return tripWorking
		}
	}
	return tripAfterHours
}

// EpisodeCount is how many episodes of one vehicle, rule and
// verification started in a period.
type EpisodeCount struct {
	VehicleID    int64
	Rule         RuleID
	Verification Verification
	N            int
}

// EpisodeCounts counts the episodes of the vehicles that started in
// [from, to), retracted ones left out, by vehicle, rule and verification.
func (s *Store) EpisodeCounts(ctx context.Context, vehicleIDs []int64, from, to time.Time) ([]EpisodeCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT vehicle_id, rule, verification, count(*)::int FROM episodes
		WHERE vehicle_id = ANY($1) AND start_time >= $2 AND start_time < $3 AND status <> 'retracted'
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, vehicleIDs, from, to)
	if err != nil {
		return nil, fmt.Errorf("count the episodes of %d vehicles: %w", len(vehicleIDs), err)
	}
	var out []EpisodeCount
	var c EpisodeCount
	_, err = pgx.ForEachRow(rows, []any{&c.VehicleID, &c.Rule, &c.Verification, &c.N}, func() error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count the episodes of %d vehicles: %w", len(vehicleIDs), err)
	}
	return out, nil
}

// LoadCalendars reads the holidays (seeding the embedded years that are
// missing), the unit tree and the calendars, and builds the units'
// calendars.
func (s *Store) LoadCalendars(ctx context.Context) (*Calendars, error) {
	_, _, cals, err := s.loadCalendars(ctx)
	return cals, err
}
