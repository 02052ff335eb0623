package commands_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"fleetmon/track/commands"
	"fleetmon/track/pgtest"
)

type fixture struct {
	t    *testing.T
	pool *pgxpool.Pool
	s    *commands.Store
	reg  *prometheus.Registry
	vid  int64
	tid  int64
}

// newFixture makes a vehicle with a terminal and a store over it.
func newFixture(t *testing.T) *fixture {
	pg := pgtest.New(t)
	f := &fixture{t: t, pool: pg.Pool}
	err := pg.Pool.QueryRow(context.Background(), `WITH u AS (INSERT INTO units (name) VALUES ('湖北省') RETURNING id),
		v AS (INSERT INTO vehicles (plate, unit_id) SELECT '鄂B00001', id FROM u RETURNING id)
		INSERT INTO terminals (phone, vehicle_id) SELECT '13800000001', id FROM v RETURNING vehicle_id, id`).Scan(&f.vid, &f.tid)
	if err != nil {
		t.Fatal(err)
	}
	f.reg = prometheus.NewRegistry()
	f.s = commands.NewStore(pg.Pool, commands.Config{}, commands.NewMetrics(f.reg))
	return f
}

func (f *fixture) enqueue(kind commands.Kind, key string, args commands.Args) (commands.Command, bool, error) {
	f.t.Helper()
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := args.Check(kind); err != nil {
		f.t.Fatal(err)
	}
	c, created, err := f.s.Enqueue(ctx, tx, commands.Request{VehicleID: f.vid, Kind: kind, Args: args, ClientKey: key})
	if err != nil {
		return c, created, err
	}
	if err := tx.Commit(ctx); err != nil {
		f.t.Fatal(err)
	}
	return c, created, nil
}

func (f *fixture) claim(serial uint16) commands.Command {
	f.t.Helper()
	c, ok, err := f.s.Claim(context.Background(), f.tid, "n1", func(commands.Command) uint16 { return serial })
	if err != nil || !ok {
		f.t.Fatalf("claim: %v %v", ok, err)
	}
	return c
}

func (f *fixture) state(id int64) commands.Command {
	f.t.Helper()
	c, err := f.s.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// TestRecordMatchesBySerial: an answer is recorded against the command
// sent with its serial and message; a receipt (0x0001 result 0) of a
// command that waits for its data leaves it waiting; an answer to nothing
// is counted as dropped, and recording twice changes nothing.
func TestRecordMatchesBySerial(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	q, _, err := f.enqueue(commands.QueryParams, "q", commands.Args{})
	if err != nil {
		t.Fatal(err)
	}
	txt, _, err := f.enqueue(commands.Text, "t", commands.Args{Text: "你好"})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.claim(7); c.ID != q.ID || c.State != commands.Sent {
		t.Fatalf("first claim: %+v", c)
	}
	f.claim(8)
	if _, ok, _ := f.s.Claim(ctx, f.tid, "n1", func(commands.Command) uint16 { return 9 }); ok {
		t.Fatal("claimed a third command of two")
	}
	// A receipt of 0x8104 leaves it waiting for 0x0104.
	if ok, err := f.s.Record(ctx, commands.Answer{TerminalID: f.tid, Serial: 7, MsgID: 0x8104}); ok || err != nil {
		t.Fatalf("receipt recorded: %v %v", ok, err)
	}
	// 0x0104 for serial 8 answers nothing: serial 8 is the text.
	if ok, _ := f.s.Record(ctx, commands.Answer{TerminalID: f.tid, Serial: 8, DataReply: 0x0104}); ok {
		t.Fatal("0x0104 recorded against a text")
	}
	if ok, err := f.s.Record(ctx, commands.Answer{TerminalID: f.tid, Serial: 7, DataReply: 0x0104,
		Reply: map[string]any{"params": map[string]any{"default_interval_s": 30}}}); !ok || err != nil {
		t.Fatalf("0x0104: %v %v", ok, err)
	}
	if c := f.state(q.ID); c.State != commands.Answered || c.Result != 0 || string(c.Reply) != `{"params": {"default_interval_s": 30}}` {
		t.Fatalf("answered query: %+v %s", c, c.Reply)
	}
	if ok, err := f.s.Record(ctx, commands.Answer{TerminalID: f.tid, Serial: 8, MsgID: 0x8300, Result: 3}); !ok || err != nil {
		t.Fatalf("0x0001 result 3: %v %v", ok, err)
	}
	if c := f.state(txt.ID); c.State != commands.Failed || c.Result != 3 {
		t.Fatalf("refused text: %+v", c)
	}
	if ok, _ := f.s.Record(ctx, commands.Answer{TerminalID: f.tid, Serial: 8, MsgID: 0x8300, Result: 0}); ok {
		t.Fatal("recorded twice")
	}
	if dropped := f.counter("fleetmon_commands_dropped_total", "reason", "unmatched_reply"); dropped != 2 {
		t.Fatalf("unmatched answers counted: %v, want 2", dropped)
	}
}

// TestEnqueueIdempotent: the same client key queues once; with other
// arguments it is refused; a queued command can be cancelled, a sent one
// not; an unclaimed one goes back to the queue.
func TestEnqueueIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, created, err := f.enqueue(commands.Track, "k", commands.Args{IntervalS: 5, ForS: 60})
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	b, created, err := f.enqueue(commands.Track, "k", commands.Args{IntervalS: 5, ForS: 60})
	if err != nil || created || b.ID != a.ID {
		t.Fatalf("again: %+v %v %v", b, created, err)
	}
	if _, _, err := f.enqueue(commands.Track, "k", commands.Args{IntervalS: 10, ForS: 60}); !errors.Is(err, commands.ErrKeyReused) {
		t.Fatalf("other arguments, same key: %v", err)
	}
	c := f.claim(1)
	if err := f.s.Unclaim(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.state(c.ID); got.State != commands.Queued || got.Serial != -1 {
		t.Fatalf("unclaimed: %+v", got)
	}
	tx, _ := f.pool.Begin(ctx)
	if got, err := f.s.Cancel(ctx, tx, f.vid, c.ID); err != nil || got.State != commands.Cancelled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	tx.Commit(ctx)
	tx, _ = f.pool.Begin(ctx)
	if _, err := f.s.Cancel(ctx, tx, f.vid, c.ID); !errors.Is(err, commands.ErrNotQueued) {
		t.Fatalf("cancel twice: %v", err)
	}
	tx.Rollback(ctx)
	if n, err := f.s.Expire(ctx, time.Now().Add(48*time.Hour)); err != nil || n != 0 {
		t.Fatalf("a cancelled command expired: %d %v", n, err)
	}
}

// counter reads a counter's value by one label.
func (f *fixture) counter(name, label, value string) float64 {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
