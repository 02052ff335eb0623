package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestVerifyReceivedAfter: fleetd verify of an export taken while its
// period was still running passes once more positions of the period have
// arrived, and names them as received after the export; a CSV saved again
// without its byte order mark and with CRLF line ends is still checked
// line by line.
func TestVerifyReceivedAfter(t *testing.T) {
	s := pgtest.New(t)
	csv := writeFile(t, "v.csv", "plate,plate_color,terminal_phone,unit,category\n鄂B12345,1,13800000001,湖北省/黄石市,general\n")
	if code, out, errs := fleetd(t, "vehicles", "import", "--db", s.ConnString, csv); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	ctx := context.Background()
	var vid, tid int64
	if err := s.Pool.QueryRow(ctx, "SELECT vehicle_id, id FROM terminals").Scan(&vid, &tid); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 21, 21, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if _, err := s.Pool.Exec(ctx, `SELECT ensure_month_partition('positions', $1)`, t0); err != nil {
		t.Fatal(err)
	}
	insert := func(i int) {
		t.Helper()
		if _, err := s.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh, heading, altitude_m, alarm, status, fix_hash)
			VALUES ($2, $1, now(), $3, ST_SetSRID(ST_MakePoint(115.04, 30.2), 4326), 46.9, 90, 20, 0, 3, $4)`,
			t0.Add(time.Duration(i)*time.Minute), vid, tid, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		insert(i)
	}
	var lines []string
	m, err := track.NewStore(s.Pool).Export(ctx, vid, "鄂B12345", t0, t0.Add(time.Hour), "inspector", "举报", time.Now(), func(e *track.ExportRow) error {
		lines = append(lines, e.DeviceTime.In(t0.Location()).Format(time.RFC3339)+","+e.ReceivedAt.In(t0.Location()).Format(time.RFC3339Nano)+
			",30.2,115.04,46.9,90,20,0,3,true,,false")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := m.TextLine()
	// As a spreadsheet saves it again: no BOM, CRLF.
	export := writeFile(t, "track.csv", strings.ReplaceAll("device_time,received_at,lat,lon,speed_kmh,heading,altitude_m,alarm,status,acc,mileage_km,backfill\n"+
		strings.Join(lines, "\n")+"\n# "+line+"\n", "\n", "\r\n"))
	for i := 5; i < 8; i++ {
		insert(i)
	}
	code, out, errs := fleetd(t, "verify", "--db", s.ConnString, export)
	if code != 0 || !strings.Contains(out, "OK: every position in the export matches what is stored, and so does every line of the file") ||
		strings.Count(out, "RECEIVED AFTER THE EXPORT") != 3 || !strings.Contains(out, "2026-11-21 21:07:00 CST") {
		t.Fatalf("verify after three more positions arrived: exit %d\n%s%s", code, out, errs)
	}
	// A speed edited in the file is caught, with both values.
	b := strings.Replace(string(mustRead(t, export)), ",46.9,", ",49.6,", 1)
	edited := writeFile(t, "edited.csv", b)
	code, out, _ = fleetd(t, "verify", "--db", s.ConnString, edited)
	if code != 1 || !strings.Contains(out, "file_altered") || !strings.Contains(out, "speed_kmh: stored 46.9, file 49.6") {
		t.Fatalf("verify an edited speed: exit %d\n%s", code, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
