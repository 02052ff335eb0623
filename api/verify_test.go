package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"fleetmon/track"
)

// valueDiff is one value that differs, as the verify answer names it.
type valueDiff struct {
	Field  string `json:"field"`
	Stored string `json:"stored"`
	File   string `json:"file"`
}

// verifyAnswer is the part of POST /api/v1/evidence/verify's answer the
// tests below read.
type verifyAnswer struct {
	Intact             bool   `json:"intact"`
	ManifestConsistent bool   `json:"manifest_consistent"`
	FileChecked        bool   `json:"file_checked"`
	FileUnchecked      string `json:"file_unchecked"`
	Format             string `json:"format"`
	Encoding           string `json:"encoding"`
	LineEnding         string `json:"line_ending"`
	Rows               int    `json:"rows"`
	FileRows           *int   `json:"file_rows"`
	CutoffRecorded     bool   `json:"cutoff_recorded"`
	ReceivedThrough    string `json:"received_through"`
	DifferencesTotal   int    `json:"differences_total"`
	Differences        []struct {
		Time   string      `json:"time"`
		What   string      `json:"what"`
		Fields []valueDiff `json:"fields"`
	} `json:"differences"`
	ReceivedAfterTotal int `json:"received_after_total"`
	ReceivedAfter      []struct {
		Time string `json:"time"`
		What string `json:"what"`
	} `json:"received_after"`
}

// evidenceFixture exports 鄂B00001's track day and the next (four
// positions, the period still "running" as far as the export knows) as
// CSV, and returns a function that verifies a file as the inspector.
func evidenceFixture(t *testing.T) (*fixture, string, func(file string) verifyAnswer) {
	t.Helper()
	f := newFixture(t, nil)
	setupRoles(f)
	q := url.Values{"from": {trackDay.Format(time.RFC3339)}, "to": {trackDay.AddDate(0, 0, 2).Format(time.RFC3339)},
		"format": {"csv"}, "reason": {"专项检查"}}
	code, csv := f.users["yx_super"].do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/export?"+q.Encode(), nil)
	if code != 200 {
		t.Fatalf("export: %d %s", code, csv)
	}
	verify := func(file string) verifyAnswer {
		t.Helper()
		code, body := f.users["hs_inspector"].do("POST", verifyPath+"?reason="+url.QueryEscape("核验"), file)
		if code != 200 {
			t.Fatalf("verify: %d %s", code, body)
		}
		return decodeJSON[verifyAnswer](t, body)
	}
	return f, csv, verify
}

// addPosition stores a position of 鄂B00001 received now, as the gateway
// would while the exported period is still running.
func addPosition(t *testing.T, f *fixture, at time.Time, speed float64, fix int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, "SELECT ensure_month_partition('positions'::regclass, $1)", at); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, backfill, fix_hash)
		VALUES ($1, $2, now(), 1, ST_SetSRID(ST_MakePoint(115.3, 30.2), 4326), $3, 90, 20, 0, 3, false, $4)`,
		f.veh["鄂B00001"], at, speed, fix); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyReceivedAfterExport: an export taken while its period was
// still running verifies intact once more rows of the period arrive; they
// are reported as received after the export, not as differences. A row
// removed, or one slipped in among those the export could see, is still
// tampering; a manifest that records no cut-off verifies as it always did,
// and says so.
func TestVerifyReceivedAfterExport(t *testing.T) {
	f, csv, verify := evidenceFixture(t)
	ctx := context.Background()
	for i := range 3 {
		addPosition(t, f, trackDay.Add(time.Duration(31+i)*time.Hour), 30, int64(100+i))
	}
	a := verify(csv)
	if !a.Intact || a.DifferencesTotal != 0 || !a.CutoffRecorded || a.ReceivedAfterTotal != 3 || len(a.ReceivedAfter) != 3 ||
		a.ReceivedAfter[0].What != "received_after" || a.ReceivedAfter[0].Time != formatTime(trackDay.Add(31*time.Hour)) {
		t.Errorf("three rows received after the export: %+v", a)
	}
	if a.ReceivedThrough != formatTime(trackDay.Add(30*time.Hour)) {
		t.Errorf("received_through = %q, want the last exported row's reception %s", a.ReceivedThrough, formatTime(trackDay.Add(30*time.Hour)))
	}

	// The same file with its manifest stripped of the cut-off, as an
	// export made before it was recorded: the rows count as added.
	i := strings.Index(csv, track.ManifestMarker)
	newLine := strings.TrimSpace(csv[i:])
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(newLine, track.ManifestMarker))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc["cutoff"] == nil {
		t.Fatalf("the manifest records no cut-off: %s (%v)", raw, err)
	}
	delete(doc, "cutoff")
	raw, _ = json.Marshal(doc)
	oldLine := track.ManifestMarker + base64.StdEncoding.EncodeToString(raw)
	a = verify(strings.Replace(csv, newLine, oldLine, 1))
	if a.Intact || a.CutoffRecorded || a.DifferencesTotal != 3 || a.Differences[0].What != "added" || a.ReceivedAfterTotal != 0 {
		t.Errorf("an old manifest, three rows since: %+v", a)
	}

	// A row slipped in among those the export could see (its transaction
	// id one the export's snapshot saw) is tampering.
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO positions (vehicle_id, device_time, received_at, terminal_id, geom, speed_kmh,
			heading, altitude_m, alarm, status, backfill, fix_hash, commit_xid)
		SELECT vehicle_id, device_time + interval '10 seconds', received_at, terminal_id, geom, speed_kmh, heading, altitude_m,
			alarm, status, backfill, 999, commit_xid FROM positions WHERE vehicle_id = $1 AND device_time = $2`,
		f.veh["鄂B00001"], trackDay.Add(9*time.Hour)); err != nil {
		t.Fatal(err)
	}
	a = verify(csv)
	if a.Intact || a.DifferencesTotal != 1 || a.Differences[0].What != "added" || a.Differences[0].Time != formatTime(trackDay.Add(9*time.Hour+10*time.Second)) ||
		a.ReceivedAfterTotal != 3 {
		t.Errorf("a row slipped in within the export's cut-off: %+v", a)
	}
	// A removed row is tampering too.
	if _, err := f.db.Pool.Exec(ctx, "DELETE FROM positions WHERE vehicle_id = $1 AND device_time IN ($2, $3)",
		f.veh["鄂B00001"], trackDay.Add(9*time.Hour+10*time.Second), trackDay.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	a = verify(csv)
	if a.Intact || a.DifferencesTotal != 1 || a.Differences[0].What != "missing" || a.ReceivedAfterTotal != 3 {
		t.Errorf("a row removed: %+v", a)
	}
}

// TestVerifyResavedCSV: a CSV export saved again by a spreadsheet (no
// byte order mark, CRLF line ends, the local code page) is still checked
// line by line, and an edited line in it is caught; a file whose lines
// cannot be checked says why.
func TestVerifyResavedCSV(t *testing.T) {
	_, csv, verify := evidenceFixture(t)
	if !strings.HasPrefix(csv, "\ufeff") || !strings.Contains(csv, "# alert: ") && !strings.Contains(csv, "# fleetmon-evidence:") {
		t.Fatalf("the export is not what this test expects:\n%s", csv)
	}
	noBOM := strings.TrimPrefix(csv, "\ufeff")
	crlf := strings.ReplaceAll(noBOM, "\n", "\r\n")
	// A comment in Chinese makes the code page matter.
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(strings.Replace(crlf, "# fleetmon-evidence:", "# 备注 车辆轨迹\r\n# fleetmon-evidence:", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, encoding, ending string
	}{
		{"as exported", csv, "utf-8-bom", "lf"},
		{"no BOM", noBOM, "utf-8", "lf"},
		{"no BOM, CRLF", crlf, "utf-8", "crlf"},
		{"GBK, CRLF", gbk, "gb18030", "crlf"},
	} {
		a := verify(c.file)
		if !a.Intact || !a.FileChecked || a.Format != "csv" || a.FileRows == nil || *a.FileRows != 4 || a.Encoding != c.encoding || a.LineEnding != c.ending {
			t.Errorf("%s: %+v", c.name, a)
		}
		// One speed edited in the file.
		edited := strings.Replace(c.file, ",42.5,", ",24.5,", 1)
		a = verify(edited)
		if a.Intact || !a.FileChecked || a.DifferencesTotal != 1 || a.Differences[0].What != "file_altered" {
			t.Errorf("%s with an edited speed: %+v", c.name, a)
		}
	}
	// A file in no export layout carrying a manifest: the manifest is
	// checked, and the answer says the lines were not.
	m, _ := track.ReadManifest([]byte(csv))
	line, _ := m.TextLine()
	a := verify("time;lat;lon\n# " + line + "\n")
	if !a.Intact || a.FileChecked || a.FileUnchecked == "" {
		t.Errorf("a file in no export layout: %+v", a)
	}
}

// TestVerifyShowsValues: a difference names the values that differ, the
// stored one against the file's, as the export writes them (46.9, not
// 46.900001525878906 nor a digest).
func TestVerifyShowsValues(t *testing.T) {
	f, _, verify := evidenceFixture(t)
	ctx := context.Background()
	if _, err := f.db.Pool.Exec(ctx, "UPDATE positions SET speed_kmh = 46.9 WHERE vehicle_id = $1 AND device_time = $2",
		f.veh["鄂B00001"], trackDay.Add(9*time.Hour)); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"from": {trackDay.Format(time.RFC3339)}, "to": {trackDay.AddDate(0, 0, 2).Format(time.RFC3339)},
		"format": {"csv"}, "reason": {"专项检查"}}
	_, csv := f.users["yx_super"].do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/export?"+q.Encode(), nil)
	if !strings.Contains(csv, ",46.9,") {
		t.Fatalf("the export does not write 46.9:\n%s", csv)
	}
	want := []valueDiff{{Field: "speed_kmh", Stored: "46.9", File: "49.6"}}
	a := verify(strings.Replace(csv, ",46.9,", ",49.6,", 1))
	if a.DifferencesTotal != 1 || !fieldsEqual(a.Differences[0].Fields, want) {
		t.Errorf("a speed edited in the file: %+v, want %+v", a.Differences, want)
	}
	// Edited in the database instead: the stored value against the one
	// the file holds.
	if _, err := f.db.Pool.Exec(ctx, "UPDATE positions SET speed_kmh = 49.6 WHERE vehicle_id = $1 AND device_time = $2",
		f.veh["鄂B00001"], trackDay.Add(9*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want = []valueDiff{{Field: "speed_kmh", Stored: "49.6", File: "46.9"}}
	a = verify(csv)
	if a.DifferencesTotal != 1 || a.Differences[0].What != "altered" || !fieldsEqual(a.Differences[0].Fields, want) {
		t.Errorf("a speed edited in the database: %+v, want %+v", a.Differences, want)
	}
	// The other formats name the value too.
	q.Set("format", "geojson")
	_, gj := f.users["yx_super"].do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/export?"+q.Encode(), nil)
	a = verify(strings.Replace(gj, `"speed_kmh":49.6,`, `"speed_kmh":46.9,`, 1))
	want = []valueDiff{{Field: "speed_kmh", Stored: "49.6", File: "46.9"}}
	if a.DifferencesTotal != 1 || !fieldsEqual(a.Differences[0].Fields, want) {
		t.Errorf("geojson: %+v, want %+v", a.Differences, want)
	}
}

func fieldsEqual(a, b []valueDiff) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
