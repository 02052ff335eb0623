package api

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEvidenceReportDurations: the evidence report writes its durations in
// Chinese units to the second (the hour's gap of the track day is
// 59分30秒), never as Go writes them ("1h0m0s", "2m0s").
func TestEvidenceReportDurations(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	q := url.Values{"from": {trackDay.Format(time.RFC3339)}, "to": {trackDay.AddDate(0, 0, 1).Format(time.RFC3339)},
		"format": {"html"}, "reason": {"专项检查"}}
	code, body := f.users["yx_super"].do("GET", "/api/v1/vehicles/"+strconv.FormatInt(f.veh["鄂B00001"], 10)+"/export?"+q.Encode(), nil)
	if code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	if goForm := regexp.MustCompile(`\d+(h\d+m|m)\d+(\.\d+)?s`).FindString(body); goForm != "" {
		t.Errorf("the report writes a duration as %q", goForm)
	}
	if !strings.Contains(body, "<td>59分30秒</td>") {
		t.Errorf("the gap of 08:00:30 to 09:00 is not written 59分30秒:\n%s", body)
	}
}

func TestDurationZh(t *testing.T) {
	for s, want := range map[float64]string{0: "0秒", 45: "45秒", 120: "2分0秒", 3930: "1小时5分30秒", 7200: "2小时0分0秒", 119.6: "2分0秒"} {
		if got := durationZh(s); got != want {
			t.Errorf("durationZh(%v) = %q, want %q", s, got, want)
		}
	}
}
