package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"fleetmon/alerts"
	"fleetmon/track/pgtest"
)

// BenchmarkScan measures one scan enqueueing the notifications of 1,000
// episodes stored since the cursor, against 50 subscriptions of a tree of
// 221 units (a province, 20 cities of 10 counties): the work after a
// burst of alerts, or after fleetd was down a while. Each subscription
// covers a city or a county, so an episode matches one to three of them.
func BenchmarkScan(b *testing.B) {
	pg := pgtest.New(b)
	ctx := context.Background()
	var root int64
	if err := pg.Pool.QueryRow(ctx, "INSERT INTO units (name) VALUES ('省') RETURNING id").Scan(&root); err != nil {
		b.Fatal(err)
	}
	var cities, counties []int64
	for c := range 20 {
		var city int64
		if err := pg.Pool.QueryRow(ctx, "INSERT INTO units (parent_id, name) VALUES ($1, $2) RETURNING id", root, fmt.Sprint("市", c)).Scan(&city); err != nil {
			b.Fatal(err)
		}
		cities = append(cities, city)
		for k := range 10 {
			var county int64
			if err := pg.Pool.QueryRow(ctx, "INSERT INTO units (parent_id, name) VALUES ($1, $2) RETURNING id", city, fmt.Sprint("县", k)).Scan(&county); err != nil {
				b.Fatal(err)
			}
			counties = append(counties, county)
		}
	}
	store := NewStore(pg.Pool)
	for i := range 50 {
		unit := counties[i*4%len(counties)]
		if i%2 == 0 {
			unit = cities[i%len(cities)]
		}
		if _, err := store.CreateSubscription(ctx, Subscription{UnitID: unit, Channel: ChannelWebhook,
			Target: fmt.Sprintf("https://oa.example/%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	eps := make([]alerts.Episode, 1000)
	start := time.Date(2026, 11, 20, 20, 0, 0, 0, time.UTC)
	for i := range eps {
		unit := counties[i%len(counties)]
		var vid int64
		if err := pg.Pool.QueryRow(ctx, "INSERT INTO vehicles (plate, unit_id) VALUES ($1, $2) RETURNING id",
			fmt.Sprintf("鄂B%05d", i), unit).Scan(&vid); err != nil {
			b.Fatal(err)
		}
		eps[i] = alerts.Episode{ID: fmt.Sprintf("%016x", i), Status: alerts.EpisodeOpen, Rule: alerts.RuleSpeeding,
			VehicleID: vid, UnitID: unit, Start: start.Add(time.Duration(i) * time.Minute), StartLat: 30, StartLon: 115}
	}
	if _, err := alerts.NewStore(pg.Pool).UpsertEpisodes(ctx, eps); err != nil {
		b.Fatal(err)
	}
	n := New(pg.Pool, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	var added int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := pg.Pool.Exec(ctx, "DELETE FROM notify_outbox; UPDATE notify_cursor SET xid_until = '0'"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var err error
		if added, err = n.Scan(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(added), "enqueued/op")
}
