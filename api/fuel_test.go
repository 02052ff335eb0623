package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"fleetmon/fuel"
	"fleetmon/fuel/fueltest"
)

// fuelCase is a generated car of the fuel tests: its scenario, card and
// vehicle.
type fuelCase struct {
	sc    fueltest.Scenario
	card  string
	plate string
}

// statementCSV writes the fills of the cases as one statement.
func statementCSV(cases ...fuelCase) string {
	var b strings.Builder
	for i, c := range cases {
		b.WriteString(c.sc.Statement(i == 0))
	}
	return b.String()
}

// setupFuel stores the tracks, stations, specs and card bindings of two
// generated cars (鄂B00001 in 阳新县, 鄂A00003 in 武汉市) through the API.
func setupFuel(t *testing.T, f *fixture) []fuelCase {
	t.Helper()
	admin := f.users["admin"]
	cases := []fuelCase{
		{fueltest.October2026("阳新", "9000000001", 0), "9000000001", "鄂B00001"},
		{fueltest.October2026("武汉", "9000000003", 1), "9000000003", "鄂A00003"},
	}
	var stations strings.Builder
	stations.WriteString("名称,纬度,经度\n")
	for _, c := range cases {
		if err := fueltest.StoreTrack(context.Background(), f.db.Pool, f.veh[c.plate], c.sc.Points); err != nil {
			t.Fatal(err)
		}
		stations.WriteString(c.sc.StationList(false))
		if code, body := admin.do("PUT", fmt.Sprintf("/api/v1/fuel/vehicles/%d", f.veh[c.plate]),
			map[string]any{"tank_l": fueltest.Tank, "norm_l_100km": fueltest.Norm}); code != 200 {
			t.Fatalf("spec of %s: %d %s", c.plate, code, body)
		}
		if code, body := admin.do("POST", "/api/v1/fuel/cards", map[string]any{"card": c.card, "vehicle_id": f.veh[c.plate], "from": "2026-09-01 00:00"}); code != 201 {
			t.Fatalf("bind %s: %d %s", c.card, code, body)
		}
	}
	if code, body := admin.do("POST", "/api/v1/fuel/stations/import", stations.String()); code != 200 {
		t.Fatalf("stations: %d %s", code, body)
	}
	// The list again, in GBK as Chinese Windows saves it: nothing changes.
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(stations.String())
	if code, body := admin.do("POST", "/api/v1/fuel/stations/import", gbk); code != 200 || !strings.Contains(body, `"changed":0`) {
		t.Fatalf("stations again, in GBK: %d %s", code, body)
	}
	return cases
}

// wantLeads lists the leads the cases' October fills must yield, as
// "plate time kind".
func wantLeads(cases []fuelCase) []string {
	var out []string
	for _, c := range cases {
		for i, fl := range c.sc.Fills {
			if fl.At.Month() != time.October {
				continue
			}
			for _, k := range c.sc.Want[i] {
				out = append(out, fmt.Sprintf("%s %s %s", c.plate, fl.At.In(cst).Format(time.RFC3339), k))
			}
		}
	}
	sort.Strings(out)
	return out
}

// leadList reads a page of leads.
func leadList(t *testing.T, c *client, query string) ([]fuelLeadJSON, map[string]int) {
	t.Helper()
	code, body := c.do("GET", "/api/v1/fuel/leads?limit=500&"+query, nil)
	if code != 200 {
		t.Fatalf("leads ?%s: %d %s", query, code, body)
	}
	var r struct {
		Items  []fuelLeadJSON `json:"items"`
		Counts map[string]int `json:"verification_counts"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return r.Items, r.Counts
}

func leadKeys(ls []fuelLeadJSON) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s %s %s", l.Plate, l.At, l.Kind))
	}
	sort.Strings(out)
	return out
}

// TestFuelMonth imports a month's statement (a UTF-8 CSV for one car, an
// XLSX for the other, the whole again in GBK), matches it against the
// stored tracks and finds exactly the leads the generated month holds,
// no others; matching again changes nothing.
func TestFuelMonth(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin := f.users["admin"]
	cases := setupFuel(t, f)

	code, body := admin.do("POST", "/api/v1/fuel/transactions/import", "\ufeff"+statementCSV(cases[0]))
	if code != 200 || !strings.Contains(body, `"added":10`) {
		t.Fatalf("import CSV: %d %s", code, body)
	}
	book := excelize.NewFile()
	rows := strings.Split(strings.TrimSpace(statementCSV(cases[1])), "\n")
	for i, line := range rows {
		cells := []any{}
		for j, c := range strings.Split(line, ",") {
			// Times as spreadsheets keep dates: serial numbers, shown
			// in whatever format the sheet gives them.
			if at, err := time.ParseInLocation("2006-01-02 15:04:05", c, cst); j == 1 && err == nil {
				cells = append(cells, time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), 0, time.UTC))
				continue
			}
			cells = append(cells, c)
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := book.SetSheetRow("Sheet1", cell, &cells); err != nil {
			t.Fatal(err)
		}
	}
	var xlsx bytes.Buffer
	if err := book.Write(&xlsx); err != nil {
		t.Fatal(err)
	}
	if code, body := admin.do("POST", "/api/v1/fuel/transactions/import", xlsx.String()); code != 200 || !strings.Contains(body, `"added":10`) {
		t.Fatalf("import XLSX: %d %s", code, body)
	}
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(statementCSV(cases...))
	if code, body := admin.do("POST", "/api/v1/fuel/transactions/import", gbk); code != 200 || !strings.Contains(body, `"added":0`) {
		t.Fatalf("import the same fills again, in GBK: %d %s", code, body)
	}

	code, body = admin.do("POST", "/api/v1/fuel/match", map[string]any{"month": "2026-10"})
	if code != 200 || !strings.Contains(body, `"fills":18`) {
		t.Fatalf("match: %d %s", code, body)
	}
	ls, counts := leadList(t, admin, "month=2026-10")
	if got, want := leadKeys(ls), wantLeads(cases); !slices.Equal(got, want) {
		t.Fatalf("leads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if counts["open"] != len(ls) {
		t.Errorf("counts %v for %d open leads", counts, len(ls))
	}
	code, again := admin.do("POST", "/api/v1/fuel/match", map[string]any{"month": "2026-10"})
	if code != 200 || !strings.Contains(again, `"removed":0`) {
		t.Fatalf("match again: %d %s", code, again)
	}
	ls2, _ := leadList(t, admin, "month=2026-10")
	if len(ls2) != len(ls) || ls2[0].ID != ls[0].ID || ls2[len(ls2)-1].ID != ls[len(ls)-1].ID {
		t.Fatalf("matching again changed the leads: %d then %d", len(ls), len(ls2))
	}

	// The evidence: the away fill's figures and the track excerpt.
	for _, l := range ls {
		if l.Kind != string(fuel.KindAway) {
			continue
		}
		code, body := admin.do("GET", fmt.Sprintf("/api/v1/fuel/leads/%d", l.ID), nil)
		var got fuelLeadJSON
		_ = json.Unmarshal([]byte(body), &got)
		var fig fuel.Figures
		_ = json.Unmarshal(got.Figures, &fig)
		var ex []fuel.Point
		_ = json.Unmarshal(got.Excerpt, &ex)
		if code != 200 || fig.NearestM == nil || *fig.NearestM < 30000 || len(ex) == 0 {
			t.Fatalf("away lead: %d %s", code, body)
		}
	}

	// The month's reconciliation.
	code, body = admin.do("GET", "/api/v1/fuel/report?month=2026-10", nil)
	var rep fuelReportJSON
	if err := json.Unmarshal([]byte(body), &rep); code != 200 || err != nil || len(rep.Cards) != 2 || len(rep.Units) != 2 {
		t.Fatalf("report: %d %s", code, body)
	}
	for _, c := range rep.Cards {
		if c.Fills != 9 || c.Leads != 6 || c.ByKind["holiday"] != 2 {
			t.Errorf("report card %+v", c)
		}
	}
	resp, xb := admin.get("/api/v1/fuel/report?month=2026-10&format=xlsx")
	if resp.StatusCode != 200 {
		t.Fatalf("report xlsx: %d %s", resp.StatusCode, xb)
	}
	xf, err := excelize.OpenReader(bytes.NewReader(xb))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := xf.GetCellValue("By card", "A2"); v != "9000000003" && v != "9000000001" {
		t.Errorf("report xlsx A2 = %q", v)
	}
}

// TestFuelJurisdictionAndWorkflow: each role sees and works the leads of
// its units only; a statement line of a card outside them, and bad
// lines, refuse the whole file, each named; a verdict needs its reason,
// is audited, and the export of the leads is verified.
func TestFuelJurisdictionAndWorkflow(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin := f.users["admin"]
	cases := setupFuel(t, f)

	// Bad lines: every one named, nothing imported.
	bad := "卡号,交易时间,加油站,油品,数量,金额\n" +
		"9000000001,2026-10-08 09:30:00,阳新A,92#,20.00,150.00\n" +
		"90-01,2026-10-08 09:30:00,阳新A,92#,20.00,150.00\n" +
		"9000000001,昨天,阳新A,92#,-3,150.00\n"
	code, body := admin.do("POST", "/api/v1/fuel/transactions/import", bad)
	if code != 400 || errorCode(body) != "bad_lines" || !strings.Contains(body, `"line":3`) || !strings.Contains(body, `"line":4`) || strings.Contains(body, `"line":2`) {
		t.Fatalf("bad lines: %d %s", code, body)
	}
	if code, body := admin.doIn("zh-CN", "POST", "/api/v1/fuel/transactions/import", bad); code != 400 ||
		!strings.Contains(body, "第 3 行：卡号“90-01”：应为 4 到 32 位字母或数字") || !strings.Contains(body, "升数“-3”：应为正数") {
		t.Fatalf("bad lines in Chinese: %d %s", code, body)
	}
	if code, body := admin.do("POST", "/api/v1/fuel/transactions/import", "card,time\n1234,2026-10-01 08:00\n"); code != 400 || !strings.Contains(body, "missing column") {
		t.Fatalf("missing columns: %d %s", code, body)
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM fuel_fills").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d fills stored after refused imports (%v)", n, err)
	}
	// 阳新县's supervisor imports a statement holding 武汉市's card: refused.
	yx := f.users["yx_super"]
	code, body = yx.do("POST", "/api/v1/fuel/transactions/import", statementCSV(cases...))
	if code != 400 || !strings.Contains(body, "9000000003 is bound to no vehicle of your units") {
		t.Fatalf("a card of another unit: %d %s", code, body)
	}
	if code, body := yx.do("POST", "/api/v1/fuel/transactions/import", statementCSV(cases[0])); code != 200 {
		t.Fatalf("own card: %d %s", code, body)
	}
	wh := f.users["wh_inspector"]
	if code, body := wh.do("POST", "/api/v1/fuel/transactions/import", statementCSV(cases[1])); code != 200 {
		t.Fatalf("武汉市's inspector, own card: %d %s", code, body)
	}
	// Cards and specs are changed only within the jurisdiction.
	if code, _ := f.users["wh_super"].do("POST", "/api/v1/fuel/cards", map[string]any{"card": "9000000001", "vehicle_id": f.veh["鄂A00003"], "from": "2026-12-01 00:00"}); code != 409 {
		t.Fatalf("taking a card from a vehicle outside the jurisdiction: %d", code)
	}
	if code, _ := f.users["wh_super"].do("PUT", fmt.Sprintf("/api/v1/fuel/vehicles/%d", f.veh["鄂B00001"]), map[string]any{"tank_l": 50, "norm_l_100km": 9}); code != 404 {
		t.Fatalf("spec of a vehicle outside: %d", code)
	}

	// 武汉市's inspector matches: only its car's fills.
	if code, body := wh.do("POST", "/api/v1/fuel/match", map[string]any{"month": "2026-10"}); code != 200 || !strings.Contains(body, `"fills":9`) {
		t.Fatalf("match by 武汉市: %d %s", code, body)
	}
	if code, body := admin.do("POST", "/api/v1/fuel/match", map[string]any{"month": "2026-10"}); code != 200 || !strings.Contains(body, `"fills":18`) {
		t.Fatalf("match by admin: %d %s", code, body)
	}
	whLeads, _ := leadList(t, wh, "month=2026-10")
	hsLeads, _ := leadList(t, f.users["hs_inspector"], "month=2026-10")
	if len(whLeads) != 6 || len(hsLeads) != 6 || whLeads[0].Plate != "鄂A00003" || hsLeads[0].Plate != "鄂B00001" {
		t.Fatalf("leads by jurisdiction: 武汉 %d, 黄石 %d", len(whLeads), len(hsLeads))
	}
	lead := hsLeads[0]
	path := fmt.Sprintf("/api/v1/fuel/leads/%d", lead.ID)
	if code, _ := wh.do("GET", path, nil); code != 404 {
		t.Fatalf("another unit's lead: %d", code)
	}
	if code, _ := f.users["wh_super"].do("POST", path+"/verification", map[string]string{"action": "request_explanation"}); code != 404 {
		t.Fatalf("verifying another unit's lead: %d", code)
	}
	// The workflow: explanation asked, a verdict needs its reason, once.
	if code, body := yx.do("POST", path+"/verification", map[string]string{"action": "request_explanation", "reason": "请单位说明"}); code != 200 || !strings.Contains(body, `"explanation_requested"`) {
		t.Fatalf("request explanation: %d %s", code, body)
	}
	if code, _ := yx.do("POST", path+"/verification", map[string]string{"action": "confirm"}); code != 400 {
		t.Fatalf("confirm without a reason: %d", code)
	}
	code, body = f.users["hs_inspector"].do("POST", path+"/verification", map[string]string{"action": "confirm", "reason": "节假日加油，无派车单"})
	if code != 200 || !strings.Contains(body, `"confirmed"`) || strings.Count(body, `"action"`) != 2 {
		t.Fatalf("confirm: %d %s", code, body)
	}
	if code, body := yx.do("POST", path+"/verification", map[string]string{"action": "dismiss", "reason": "x"}); code != 409 || errorCode(body) != "verification_state" {
		t.Fatalf("a second verdict: %d %s", code, body)
	}
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'fuel.lead_verification' AND detail->>'lead_id' = $1`,
		fmt.Sprint(lead.ID)).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d audit entries of the lead's steps (%v)", n, err)
	}
	// Matching again keeps the verdict.
	admin.do("POST", "/api/v1/fuel/match", map[string]any{"month": "2026-10"})
	if ls, _ := leadList(t, admin, "verification=confirmed"); len(ls) != 1 || ls[0].ID != lead.ID {
		t.Fatalf("confirmed after matching again: %+v", ls)
	}

	// The export, verified; then a line edited, and the database changed.
	if code, _ := f.users["hs_inspector"].do("GET", "/api/v1/fuel/leads/export?month=2026-10", nil); code != 400 {
		t.Fatalf("export without a reason: %d", code)
	}
	resp, file := f.users["hs_inspector"].get("/api/v1/fuel/leads/export?month=2026-10&reason=" + "专项治理")
	if resp.StatusCode != 200 || !IsLeadsExport(file) {
		t.Fatalf("export: %d %s", resp.StatusCode, file)
	}
	ck, err := VerifyLeadsExport(context.Background(), f.db.Pool, file)
	if err != nil || !ck.Intact() || len(ck.Manifest.Rows) != 6 {
		t.Fatalf("verify the export as made: %+v %v", ck, err)
	}
	yx.do("POST", fmt.Sprintf("/api/v1/fuel/leads/%d/verification", hsLeads[1].ID), map[string]string{"action": "dismiss", "reason": "已核实为正常"})
	if ck, err := VerifyLeadsExport(context.Background(), f.db.Pool, file); err != nil || !ck.Intact() || len(ck.Moved) != 1 {
		t.Fatalf("verify after a verdict: %+v %v", ck, err)
	}
	edited := bytes.Replace(file, []byte(fmt.Sprintf("%.2f", hsLeads[2].Litres)), []byte("1.00"), 1)
	if ck, err := VerifyLeadsExport(context.Background(), f.db.Pool, edited); err != nil || ck.Intact() || len(ck.Differences) == 0 || ck.Differences[0].What != "file_altered" {
		t.Fatalf("verify an edited file: %+v %v", ck, err)
	}
	if _, err := f.db.Pool.Exec(context.Background(), `UPDATE fuel_fills SET litres = litres + 1 WHERE id = $1`, hsLeads[3].FillID); err != nil {
		t.Fatal(err)
	}
	if ck, err := VerifyLeadsExport(context.Background(), f.db.Pool, file); err != nil || ck.Intact() || ck.Differences[0].What != "altered" {
		t.Fatalf("verify after the database changed: %+v %v", ck, err)
	}
}
