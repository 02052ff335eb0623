package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// effectiveOf reads a unit's parameters as "value from kind unit" by name.
func effectiveOf(t *testing.T, c *client, unit int64) (map[string]string, string) {
	t.Helper()
	code, body := c.do("GET", fmt.Sprintf("/api/v1/units/%d/rule-params", unit), nil)
	if code != 200 {
		t.Fatalf("get params of unit %d: %d %s", unit, code, body)
	}
	var got struct {
		Overrides map[string]json.RawMessage `json:"overrides"`
		Effective []struct {
			Name   string          `json:"name"`
			Unit   string          `json:"unit"`
			Value  json.RawMessage `json:"value"`
			Source struct {
				Kind   string `json:"kind"`
				UnitID int64  `json:"unit_id"`
			} `json:"source"`
		} `json:"effective"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range got.Effective {
		out[e.Name] = fmt.Sprintf("%s from %s %d", e.Value, e.Source.Kind, e.Source.UnitID)
	}
	own, _ := json.Marshal(got.Overrides)
	return out, string(own)
}

// TestRuleParamsInherited: parameters in minutes, km/h and metres; a unit
// overrides only what it sets and reading shows where each value comes
// from; unknown names and ambiguous numbers are refused saying why; every
// change is audited.
func TestRuleParamsInherited(t *testing.T) {
	f, rules := alertFixture(t, nil)
	ysup, hsi, admin := f.users["yx_super"], f.users["hs_inspector"], f.users["admin"]
	hs, yx := f.units["湖北省/黄石市"], f.units["湖北省/黄石市/阳新县"]
	office := f.units["湖北省/黄石市/阳新县/县机关事务中心"]

	puts := []struct {
		c    *client
		unit int64
		body string
	}{
		{admin, 0, `{"speed.default_kmh": 100}`},
		{admin, hs, `{"drive": {"min_duration": 5}, "area.outside": "90s"}`},
		{ysup, yx, `{"drive.min_distance_m": "1 km", "drive.match": "或", "time.min_violation": "2 分钟"}`},
	}
	for _, p := range puts {
		if code, body := p.c.do("PUT", fmt.Sprintf("/api/v1/units/%d/rule-params", p.unit), p.body); code != 200 {
			t.Fatalf("put %s on unit %d: %d %s", p.body, p.unit, code, body)
		}
	}
	got, own := effectiveOf(t, hsi, office)
	if own != "{}" {
		t.Errorf("the office sets %s, nothing put", own)
	}
	for name, want := range map[string]string{
		"drive.min_distance_m": fmt.Sprintf("1000 from unit %d", yx),
		"drive.match":          fmt.Sprintf(`"any" from unit %d`, yx),
		"time.min_violation":   fmt.Sprintf(`"2m" from unit %d`, yx),
		"drive.min_duration":   fmt.Sprintf(`"5m" from unit %d`, hs),
		"area.outside":         fmt.Sprintf(`"1m30s" from unit %d`, hs),
		"speed.default_kmh":    "100 from defaults 0",
		"drive.stop_duration":  `"5m" from builtin 0`,
		"speed.min_duration":   `"30s" from builtin 0`,
	} {
		if got[name] != want {
			t.Errorf("%s: %s, want %s", name, got[name], want)
		}
	}
	if _, own := effectiveOf(t, hsi, yx); own != `{"drive.match":"any","drive.min_distance_m":1000,"time.min_violation":"2m"}` {
		t.Errorf("阳新县 sets %s", own)
	}

	// Refused, each saying what to write instead; nothing stored.
	for _, c := range []struct{ body, says string }{
		{`{"drive.min_durration": "5m"}`, `未知参数 \"drive.min_durration\" (unknown parameter)；可用 (valid)：drive.min_distance_m, drive.min_duration`},
		{`{"area": {"fixes": 3}}`, `未知参数 \"area.fixes\"`},
		{`{"speed.min_duration": 30}`, `请写明单位，如 \"30s\" 或 \"30m\"`},
		{`{"time": {"min_violation": 300000000000}}`, `像是纳秒`},
		{`{"drive.min_duration": "5"}`, `没有单位`},
		{`{"disabled": ["overspeed"]}`, `未知规则 \"overspeed\"`},
		{`{"drive.min_distance_m": 0}`, `drive.min_distance_m: 须大于 0`},
	} {
		code, body := ysup.do("PUT", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), c.body)
		if code != 400 || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want 400 saying %s", c.body, code, body, c.says)
		}
	}
	if _, own := effectiveOf(t, hsi, yx); !strings.Contains(own, `"drive.min_distance_m":1000`) {
		t.Errorf("a refused put changed 阳新县: %s", own)
	}
	// Only an administrator at the top sets the defaults; an inspector
	// sets nothing.
	if code, _ := ysup.do("PUT", "/api/v1/units/0/rule-params", `{"speed.default_kmh": 80}`); code != 403 {
		t.Errorf("supervisor sets the defaults: %d", code)
	}
	if code, _ := hsi.do("PUT", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), `{"speed.default_kmh": 80}`); code != 403 {
		t.Errorf("inspector sets parameters: %d", code)
	}

	// Deleting 阳新县's own: it inherits everything again.
	if code, body := ysup.do("DELETE", fmt.Sprintf("/api/v1/units/%d/rule-params", yx), nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if got, own := effectiveOf(t, hsi, yx); own != "{}" || got["drive.min_distance_m"] != "500 from builtin 0" ||
		got["drive.min_duration"] != fmt.Sprintf(`"5m" from unit %d`, hs) {
		t.Errorf("after delete: %s %v", own, got)
	}

	// The table of parameters, for forms.
	code, body := hsi.do("GET", "/api/v1/rule-params", nil)
	if code != 200 || !strings.Contains(body, `"name":"area.outside","unit":"duration"`) {
		t.Errorf("parameter table: %d %s", code, body)
	}

	// Every change audited, in the transaction of the change: four puts,
	// one delete; the refused ones left nothing.
	var n int
	if err := f.db.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM audit_log WHERE action IN ('rule_params.put', 'rule_params.delete')").Scan(&n); err != nil || n != 4 {
		t.Errorf("%d audit entries, want 4 (%v)", n, err)
	}
	if rules.Reloads() < 4 {
		t.Errorf("%d reloads", rules.Reloads())
	}
}

// TestUnknownNamesListed: a misspelt JSON field, fence property or kind
// is refused naming the valid ones, never ignored.
func TestUnknownNamesListed(t *testing.T) {
	f, _ := alertFixture(t, nil)
	ysup := f.users["yx_super"]
	yx := f.units["湖北省/黄石市/阳新县"]
	circle := func(props string) string {
		return `{"type":"Feature","geometry":{"type":"Point","coordinates":[115.2,29.8]},"properties":` + props + `}`
	}
	for _, c := range []struct {
		method, path, body, says string
	}{
		{"POST", "/api/v1/approvals", `{"vehicle_id": 1, "driverr": "张三"}`, `未知字段 \"driverr\" (unknown field)；可用 (valid)：approver, driver, fence_id, from, purpose, to, vehicle_id`},
		{"PUT", fmt.Sprintf("/api/v1/units/%d/calendar", yx), `{"week":[[{"start":"08:00","end":"12:00","ends":"x"}],[],[],[],[],[],[]]}`,
			`未知字段 \"week[][].ends\" (unknown field)；可用 (valid)：end, start`},
		{"POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), circle(`{"name":"车库","kind":"parking","radius":200}`),
			`未知围栏属性 \"radius\" (unknown fence property)；可用 (valid)：name, kind, category, radius_m, width_m, dwell_min, speed_limit_kmh`},
		{"POST", fmt.Sprintf("/api/v1/geofences?unit=%d", yx), circle(`{"name":"车库","kind":"garage","radius_m":200}`),
			`未知围栏类型 \"garage\" (unknown fence kind)；可用 (valid)：permitted, prohibited, sensitive, parking, speed_zone`},
		{"GET", "/api/v1/alerts?rule=overspeed", "", `可用 (valid)：after_hours, holiday_use, out_of_area`},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		code, got := ysup.do(c.method, c.path, body)
		if code != 400 || !strings.Contains(got, c.says) {
			t.Errorf("%s %s %s: %d %s, want 400 saying %s", c.method, c.path, c.body, code, got, c.says)
		}
	}
}

// TestApprovalStanding: an approval says whether it is in effect now and,
// if not, why.
func TestApprovalStanding(t *testing.T) {
	f, _ := alertFixture(t, nil) // the fixture's clock: 2026-11-22 09:00
	ysup := f.users["yx_super"]
	v := f.veh["鄂B00001"]
	for _, p := range [][2]string{
		{"2026-11-20T08:00:00+08:00", "2026-11-20T12:00:00+08:00"}, // past
		{"2026-11-22T08:00:00+08:00", "2026-11-22T18:00:00+08:00"}, // now
		{"2026-11-25T08:00:00+08:00", "2026-11-25T18:00:00+08:00"}, // ahead
	} {
		if code, body := ysup.do("POST", "/api/v1/approvals", map[string]any{"vehicle_id": v, "driver": "张三", "purpose": "检查",
			"from": p[0], "to": p[1], "approver": "李四"}); code != 201 {
			t.Fatalf("approval %v: %d %s", p, code, body)
		}
	}
	standing := func() []string {
		t.Helper()
		code, body := ysup.do("GET", fmt.Sprintf("/api/v1/approvals?vehicle=%d", v), nil)
		if code != 200 {
			t.Fatalf("approvals: %d %s", code, body)
		}
		var got struct {
			Items []struct {
				InEffect   bool   `json:"in_effect"`
				Status     string `json:"status"`
				StatusText string `json:"status_text"`
				Reasons    []struct {
					Code string `json:"code"`
				} `json:"reasons"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range got.Items {
			s := fmt.Sprintf("%v %s %s", a.InEffect, a.Status, strings.Fields(a.StatusText)[0])
			for _, r := range a.Reasons {
				s += " " + r.Code
			}
			out = append(out, s)
		}
		return out
	}
	// Newest first.
	want := []string{"false pending 未生效：2026-11-25T08:00:00+08:00 pending", "true in_effect 生效中", "false expired 已过期：2026-11-20T12:00:00+08:00 expired"}
	if got := standing(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("standing:\n got %q\nwant %q", got, want)
	}
	if code, body := ysup.do("POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", v), nil); code != 200 {
		t.Fatalf("seal: %d %s", code, body)
	}
	// Sealed from now (09:00): the approvals whose window reaches past
	// it cannot be used; the one that ended before can be, as it was.
	want = []string{"false pending 未生效：2026-11-25T08:00:00+08:00 pending vehicle_sealed", "false vehicle_sealed 车辆已封存：审批时段内车辆封存，封存车辆不得使用 vehicle_sealed",
		"false expired 已过期：2026-11-20T12:00:00+08:00 expired"}
	if got := standing(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("standing of a sealed vehicle's:\n got %q\nwant %q", got, want)
	}
}
