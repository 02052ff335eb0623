package track_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// BenchmarkWriter measures positions stored per second through the writer
// (COPY into staging, INSERT … ON CONFLICT, state upsert, raw frames), with
// `conc` goroutines each writing one terminal's reports `per` at a time, as
// the gateway does. Run with FLEETMON_TEST_DB set (make bench).
func BenchmarkWriter(b *testing.B) {
	for _, tc := range []struct{ conc, per int }{{200, 1}, {40, 50}} {
		b.Run(fmt.Sprintf("terminals=%d/per_write=%d", tc.conc, tc.per), func(b *testing.B) {
			s := pgtest.New(b)
			ctx := context.Background()
			type term struct{ vid, tid int64 }
			terms := make([]term, tc.conc)
			var vs []track.VehicleImport
			for i := range terms {
				vs = append(vs, track.VehicleImport{Line: i + 2, Plate: fmt.Sprintf("鄂B%05d", i), PlateColor: 1,
					TerminalPhone: fmt.Sprintf("1380%07d", i), UnitPath: []string{"湖北省", "黄石市"}, Category: track.CategoryGeneral})
			}
			if _, _, err := track.NewStore(s.Pool).ImportVehicles(ctx, vs); err != nil {
				b.Fatal(err)
			}
			rows, err := s.Pool.Query(ctx, "SELECT vehicle_id, id FROM terminals ORDER BY id")
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for rows.Next() {
				if err := rows.Scan(&terms[i].vid, &terms[i].tid); err != nil {
					b.Fatal(err)
				}
				i++
			}
			w := track.NewWriter(s.Pool, track.WriterConfig{}, discard(), nil)
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = w.Run(wctx, time.Second) }()
			defer func() { cancel(); <-done }()

			base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			writes := b.N/tc.per + 1
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for g, t := range terms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := g; j < writes; j += len(terms) {
						ps := make([]track.Position, tc.per)
						for k := range ps {
							ps[k] = pos(t.vid, t.tid, base.Add(time.Duration(j*tc.per+k)*time.Second), 30.2, 115.0)
						}
						f := track.RawFrame{ID: ps[0].FrameID, Received: time.Now(), TerminalID: t.tid, Phone: "1",
							MsgID: 0x0200, Frame: make([]byte, 60)}
						if err := w.Write(ctx, t.tid, ps, []track.RawFrame{f}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(writes*tc.per)/time.Since(start).Seconds(), "positions/s")
		})
	}
}
