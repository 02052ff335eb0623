package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"fleetmon/ingest"
	"fleetmon/ingest/jt808"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

const fleetCSV = `plate,plate_color,terminal_phone,unit,category
鄂B12345,1,13800000001,湖北省/黄石市/阳新县/县机关事务中心,一般公务用车
鄂B54321,2,013800000002,湖北省/黄石市/阳新县/县机关事务中心,emergency
`

var cst = time.FixedZone("CST", 8*3600)

func TestRegisterAuthenticateReport(t *testing.T) {
	g := newGateway(t, ingest.Config{}, fleetCSV)
	ctx := context.Background()

	// A 2013 terminal: 12 BCD digits, leading zero.
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	at := time.Date(2026, 11, 21, 22, 15, 30, 0, cst)
	loc := location(at, -33.456789, -70.654321, 61.5) // Santiago: south and west
	loc.Present = jt808.ItemMileage | jt808.ItemFuel | jt808.ItemSignal | jt808.ItemSatellites | jt808.ItemExtStatus
	loc.MileageDeciKm, loc.FuelDeciL, loc.Signal, loc.Satellites, loc.ExtStatus = 123456, 456, 25, 11, 7
	loc.Extra[0] = jt808.RawItem{ID: 0xe1, Val: []byte{1, 2}}
	loc.NExtra = 1
	h := tm.send(jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 0 {
		t.Fatalf("location: result %d", r)
	}
	// The acknowledgement came after the commit: the row is there now.
	var lat, lon, speed, mileage float64
	var dt time.Time
	var sats int
	var items string
	var backfill bool
	err := g.pool.QueryRow(ctx, `SELECT ST_Y(p.geom), ST_X(p.geom), p.speed_kmh, p.mileage_km, p.device_time,
		p.satellites, p.items::text, p.backfill
		FROM positions p JOIN vehicles v ON v.id = p.vehicle_id WHERE v.plate = '鄂B12345'`).
		Scan(&lat, &lon, &speed, &mileage, &dt, &sats, &items, &backfill)
	if err != nil {
		t.Fatal(err)
	}
	if lat != -33.456789 || lon != -70.654321 || speed != 61.5 || mileage != 12345.6 || sats != 11 || backfill {
		t.Errorf("stored lat %v lon %v speed %v mileage %v sats %v backfill %v", lat, lon, speed, mileage, sats, backfill)
	}
	if !dt.Equal(at) {
		t.Errorf("device_time %v, want %v (GMT+8 BCD)", dt, at)
	}
	if items != `{"0xe1": "0102", "ext_status": 7}` {
		t.Errorf("items = %s", items)
	}

	// The same terminal speaking 2019 (20 digits) is the same vehicle.
	tm19 := dial(t, g.addr, "00000000013800000001", jt808.Version2019)
	tm19.login("鄂B12345")
	h = tm19.send(jt808.IDLocation, location(at.Add(time.Minute), 30.2, 115.04, 0).AppendTo(nil, jt808.Version2019))
	if r := tm19.generalReply(h); r != 0 {
		t.Fatalf("2019 location: result %d", r)
	}
	var n int
	if err := g.pool.QueryRow(ctx, `SELECT count(DISTINCT vehicle_id) * 100 + count(*) FROM positions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 102 {
		t.Errorf("positions: %d vehicles, %d rows; want 1 vehicle, 2 rows", n/100, n%100)
	}
	var proto int
	if err := g.pool.QueryRow(ctx, "SELECT protocol_version FROM terminals WHERE phone = '13800000001'").Scan(&proto); err != nil || proto != 2019 {
		t.Errorf("terminals.protocol_version = %d, %v; want 2019", proto, err)
	}

	// Heartbeat and server-time query are answered.
	h = tm.send(jt808.IDHeartbeat, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Errorf("heartbeat: result %d", r)
	}
	tm19.send(jt808.IDQueryTime, nil)
	f := tm19.reply()
	var qt jt808.QueryTimeReply
	if f.Header.ID != jt808.IDQueryTimeReply || qt.Decode(f.Body, &f.Header) != nil || time.Since(qt.Time).Abs() > time.Minute {
		t.Errorf("0x0004 answered with %v %v", f.Header.ID, qt.Time)
	}
	// An unsupported message gets result 3.
	h = tm.send(0x0f0f, []byte{1})
	if r := tm.generalReply(h); r != 3 {
		t.Errorf("unknown message: result %d, want 3", r)
	}
	// Logout (0x0003) invalidates the auth code.
	h = tm.send(jt808.IDLogout, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Errorf("logout: result %d", r)
	}
	h = tm.send(jt808.IDLocation, location(at.Add(2*time.Minute), 30.2, 115.04, 0).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 1 {
		t.Errorf("location after logout: result %d, want 1", r)
	}
}

func TestAdmission(t *testing.T) {
	g := newGateway(t, ingest.Config{}, fleetCSV)
	ctx := context.Background()
	// A terminal bound to no vehicle is refused with 0x8100 result 4.
	stranger := dial(t, g.addr, "19900000000", jt808.Version2013)
	if res, code := stranger.register("鄂A00000"); res != 4 || code != "" {
		t.Errorf("unknown terminal: result %d code %q, want 4 and none", res, code)
	}
	// Before authenticating, reports are refused (result 1) and not stored.
	tm := dial(t, g.addr, "13800000002", jt808.Version2013)
	h := tm.send(jt808.IDLocation, location(time.Now(), 30, 115, 10).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 1 {
		t.Errorf("unauthenticated location: result %d, want 1", r)
	}
	// A wrong auth code is refused.
	if res, _ := tm.register("鄂B54321"); res != 0 {
		t.Fatalf("register: %d", res)
	}
	h = tm.send(jt808.IDAuth, (&jt808.Auth{Code: "NOT-THE-CODE"}).AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 1 {
		t.Errorf("wrong auth code: result %d, want 1", r)
	}
	var n int
	if err := g.pool.QueryRow(ctx, "SELECT count(*) FROM positions").Scan(&n); err != nil || n != 0 {
		t.Errorf("positions = %d, %v; want none", n, err)
	}

	// Open registration admits the stranger into the unassigned pool.
	open := startGateway(t, g.pool, ingest.Config{OpenRegistration: true}, "")
	stranger = dial(t, open.addr, "19900000000", jt808.Version2019)
	stranger.login("鄂A00000")
	var unit string
	err := g.pool.QueryRow(ctx, `SELECT u.name FROM terminals t JOIN vehicles v ON v.id = t.vehicle_id
		JOIN units u ON u.id = v.unit_id WHERE t.phone = '19900000000'`).Scan(&unit)
	if err != nil || unit != "未分配" {
		t.Errorf("open registration unit = %q, %v", unit, err)
	}
}

func TestResendAndBatchesStoredOnce(t *testing.T) {
	g := newGateway(t, ingest.Config{}, fleetCSV)
	ctx := context.Background()
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	base := time.Date(2026, 11, 21, 8, 0, 0, 0, cst)
	body := location(base, 30.2, 115.04, 40).AppendTo(nil, jt808.Version2013)
	// The terminal missed the first acknowledgement and sends the report again.
	for range 2 {
		h := tm.send(jt808.IDLocation, body)
		if r := tm.generalReply(h); r != 0 {
			t.Fatalf("result %d", r)
		}
	}
	// A blind-zone back-fill repeating that report and adding four more, and
	// a normal batch.
	blind := jt808.BatchLocation{Type: jt808.BatchBlindZone}
	for i := range 5 {
		blind.Items = append(blind.Items, *location(base.Add(time.Duration(i)*10*time.Second), 30.2+float64(i)*0.001, 115.04, 40))
	}
	h := tm.send(jt808.IDBatchLocation, blind.AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 0 {
		t.Fatalf("blind-zone batch: result %d", r)
	}
	normal := jt808.BatchLocation{Type: jt808.BatchNormal}
	for i := range 3 {
		normal.Items = append(normal.Items, *location(base.Add(time.Hour+time.Duration(i)*time.Second), 30.3, 115.1, 50))
	}
	h = tm.send(jt808.IDBatchLocation, normal.AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 0 {
		t.Fatalf("normal batch: result %d", r)
	}
	var total, backfilled, frames int
	err := g.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE backfill),
		(SELECT count(*) FROM raw_frames WHERE msg_id IN (512, 1796)) FROM positions`).Scan(&total, &backfilled, &frames)
	if err != nil {
		t.Fatal(err)
	}
	// 1 live + 4 new from the back-fill (the first repeats the live one, which
	// keeps its live flag) + 3 = 8 rows; every frame received is kept: 4.
	if total != 8 || backfilled != 4 || frames != 4 {
		t.Errorf("positions %d (backfill %d), raw frames %d; want 8 (4), 4", total, backfilled, frames)
	}
	if d := g.counter(t, "fleetmon_track_duplicate_positions_total"); d != 2 {
		t.Errorf("duplicates counted = %v, want 2", d)
	}
}

func TestBadInputLeavesServerServing(t *testing.T) {
	g := newGateway(t, ingest.Config{MaxFrame: 2048}, fleetCSV)
	tm := dial(t, g.addr, "13800000001", jt808.Version2013)
	tm.login("鄂B12345")
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, cst)

	// Garbage before a frame, and two frames in one write.
	h1 := tm.header(jt808.IDHeartbeat)
	h2 := tm.header(jt808.IDLocation)
	wire := append([]byte("\x00\x01garbage\x7d\x7d"), jt808.AppendFrame(nil, &h1, nil)...)
	wire = jt808.AppendFrame(wire, &h2, location(at, 30, 115, 1).AppendTo(nil, jt808.Version2013))
	tm.write(wire)
	if r := tm.generalReply(h1); r != 0 {
		t.Fatal(r)
	}
	if r := tm.generalReply(h2); r != 0 {
		t.Fatal(r)
	}
	// A frame split into single bytes.
	h := tm.header(jt808.IDHeartbeat)
	for _, b := range jt808.AppendFrame(nil, &h, nil) {
		tm.write([]byte{b})
	}
	if r := tm.generalReply(h); r != 0 {
		t.Fatal(r)
	}
	// A bad checksum is skipped, unanswered; the next frame is served.
	h = tm.header(jt808.IDHeartbeat)
	bad := jt808.AppendFrame(nil, &h, nil)
	bad[len(bad)-2] ^= 0x55
	tm.write(bad)
	h = tm.send(jt808.IDHeartbeat, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Fatal(r)
	}
	// A body that does not decode gets result 2, and the connection stays.
	h = tm.send(jt808.IDLocation, []byte{1, 2, 3})
	if r := tm.generalReply(h); r != 2 {
		t.Fatalf("malformed location: result %d, want 2", r)
	}
	// An impossible time (month 13) is malformed too.
	l := location(at, 30, 115, 1)
	l.Time[1] = 0x13
	h = tm.send(jt808.IDLocation, l.AppendTo(nil, jt808.Version2013))
	if r := tm.generalReply(h); r != 2 {
		t.Fatalf("bad time: result %d, want 2", r)
	}
	h = tm.send(jt808.IDHeartbeat, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Fatal(r)
	}
	if c := g.counter(t, "fleetmon_ingest_decode_errors_total", "kind", "checksum"); c != 1 {
		t.Errorf("checksum errors counted = %v, want 1", c)
	}

	// An oversized frame closes that connection, with a counted reason.
	big := dial(t, g.addr, "13800000002", jt808.Version2013)
	// Writes may fail once the gateway has cut the connection: that is the point.
	_, _ = big.conn.Write(append([]byte{0x7e}, make([]byte, 5000)...))
	if _, err := big.tryReply(5 * time.Second); err == nil {
		t.Fatal("oversized frame: connection still open")
	}
	waitFor(t, func() bool {
		return g.counter(t, "fleetmon_ingest_connections_closed_total", "reason", "oversized") == 1
	})

	// A flood of bad frames closes the connection too.
	flood := dial(t, g.addr, "13800000002", jt808.Version2013)
	for range 30 {
		if _, err := flood.conn.Write(bad); err != nil {
			break // closed by the gateway, as it should be
		}
	}
	waitFor(t, func() bool {
		return g.counter(t, "fleetmon_ingest_connections_closed_total", "reason", "bad_frames") == 1
	})

	// The first terminal is still served.
	h = tm.send(jt808.IDHeartbeat, nil)
	if r := tm.generalReply(h); r != 0 {
		t.Fatal(r)
	}
	// Bad frames are kept as evidence (written without waiting, so poll).
	waitFor(t, func() bool {
		var malformed int
		err := g.pool.QueryRow(context.Background(), "SELECT count(*) FROM raw_frames WHERE disposition IN ('malformed', 'checksum')").Scan(&malformed)
		return err == nil && malformed >= 3
	})
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
