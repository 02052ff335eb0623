package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"fleetmon/alerts"
)

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"鄂B00001":          "鄂B00001",
		`=HYPERLINK("x")`:  `'=HYPERLINK("x")`,
		"+1+2":             "'+1+2",
		"-1+cmd|' /C calc": "'-1+cmd|' /C calc",
		"@SUM(A1)":         "'@SUM(A1)",
		"\t=1":             "'\t=1",
		"\r=1":             "'\r=1",
		"-3.5":             "-3.5",
		"+8":               "+8",
		"a=b":              "a=b",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// formulaCells returns the cells of a CSV document that a spreadsheet
// would run as a formula.
func formulaCells(t *testing.T, doc string) []string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(doc))
	r.FieldsPerRecord, r.LazyQuotes = -1, true
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("csv %q: %v", doc, err)
	}
	var bad []string
	for _, rec := range recs {
		for _, c := range rec {
			if c != "" && strings.ContainsRune(formulaStart, rune(c[0])) {
				if _, err := strconv.ParseFloat(c, 64); err != nil {
					bad = append(bad, c)
				}
			}
		}
	}
	return bad
}

// TestCSVFormulaInjection: a plate and an alert's text that would start
// formulas come out of the dispatch report and the evidence export as
// text, and the export still verifies.
func TestCSVFormulaInjection(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ctx := context.Background()
	admin := f.users["admin"]
	v1 := f.veh["鄂B00001"]
	evil := `=HYPERLINK("x")`
	if code, body := admin.do("PATCH", fmt.Sprintf("/api/v1/vehicles/%d", v1), map[string]any{"plate": evil}); code != 200 {
		t.Fatalf("rename plate: %d %s", code, body)
	}
	as := alerts.NewStore(f.db.Pool)
	if _, err := as.AddApproval(ctx, alerts.ApprovalRecord{Approval: alerts.Approval{VehicleID: v1,
		Start: trackDay.Add(14 * time.Hour), End: trackDay.Add(15 * time.Hour)}, Driver: "张三", Purpose: "会议"}); err != nil {
		t.Fatal(err)
	}
	ep := f.putEpisode("ep-csv", "鄂B00001", alerts.RuleSensitiveDwell, trackDay.Add(8*time.Hour))
	ep.Detail = `某会所,=HYPERLINK("http://x"),@SUM(1)`
	if _, err := as.UpsertEpisodes(ctx, []alerts.Episode{ep}); err != nil {
		t.Fatal(err)
	}

	code, body := admin.do("GET", "/api/v1/reports/dispatch?date=2026-11-20&format=csv", nil)
	if code != 200 || !strings.Contains(body, "HYPERLINK") {
		t.Fatalf("dispatch csv: %d %s", code, body)
	}
	if bad := formulaCells(t, body); len(bad) > 0 {
		t.Errorf("dispatch csv has formula cells %q:\n%s", bad, body)
	}

	q := url.Values{"from": {trackDay.Format(time.RFC3339)}, "to": {trackDay.AddDate(0, 0, 1).Format(time.RFC3339)}, "reason": {"核查"}}
	code, body = admin.do("GET", fmt.Sprintf("/api/v1/vehicles/%d/export?format=csv&%s", v1, q.Encode()), nil)
	if code != 200 || !strings.Contains(body, "# alert: ") {
		t.Fatalf("export csv: %d %s", code, body)
	}
	if bad := formulaCells(t, body); len(bad) > 0 {
		t.Errorf("export csv has formula cells %q:\n%s", bad, body)
	}
	code, resp := admin.do("POST", verifyPath+"?reason="+url.QueryEscape("核验"), body)
	if code != 200 || !strings.Contains(resp, `"intact":true`) {
		t.Errorf("verify the export: %d %s", code, resp)
	}
}
