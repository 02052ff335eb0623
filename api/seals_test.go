package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestSealHistory: sealing and unsealing with a time and a reason; the
// same seal repeated records nothing; the history keeps the seal after
// the unseal; bad input, roles and scopes are refused; each request is
// audited with its reason.
func TestSealHistory(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	v := f.veh["鄂B00001"]
	sup := f.users["yx_super"]
	path := func(what string) string { return fmt.Sprintf("/api/v1/vehicles/%d/%s", v, what) }
	type result struct {
		Sealed  bool `json:"sealed"`
		Changed bool `json:"changed"`
		Seal    *struct {
			ID     int64  `json:"id"`
			Sealed bool   `json:"sealed"`
			At     string `json:"at"`
			Reason string `json:"reason"`
			User   string `json:"user"`
		} `json:"seal"`
	}
	call := func(c *client, what string, body any) result {
		t.Helper()
		code, b := c.do("POST", path(what), body)
		if code != 200 {
			t.Fatalf("%s %v: %d %s", what, body, code, b)
		}
		var r result
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	seal := map[string]string{"at": "2026-11-10 08:00", "reason": "车辆待处置"}
	r := call(sup, "seal", seal)
	if !r.Changed || !r.Sealed || r.Seal == nil || !r.Seal.Sealed || r.Seal.At != "2026-11-10T08:00:00+08:00" ||
		r.Seal.Reason != "车辆待处置" || r.Seal.User != "yx_super" {
		t.Fatalf("seal: %+v %+v", r, r.Seal)
	}
	first := r.Seal.ID
	if again := call(sup, "seal", seal); again.Changed || again.Seal == nil || again.Seal.ID != first {
		t.Errorf("the same seal again: %+v, want unchanged, entry %d", again, first)
	}
	// Sealed already then: a later seal adds no period either.
	if later := call(f.users["admin"], "seal", map[string]string{"at": "2026-11-11T08:00:00+08:00"}); later.Changed {
		t.Errorf("sealing a sealed vehicle recorded %+v", later.Seal)
	}
	if r := call(sup, "unseal", map[string]string{"at": "2026-11-12T08:00:00+08:00", "reason": "处置完毕"}); !r.Changed || r.Sealed {
		t.Errorf("unseal: %+v", r)
	}

	var h struct {
		Sealed bool `json:"sealed"`
		Items  []struct {
			Sealed bool   `json:"sealed"`
			At     string `json:"at"`
			Reason string `json:"reason"`
		} `json:"items"`
		Periods []struct{ From, To string } `json:"periods"`
	}
	code, b := f.users["hs_inspector"].do("GET", path("seals"), nil)
	if code != 200 {
		t.Fatalf("history: %d %s", code, b)
	}
	if err := json.Unmarshal([]byte(b), &h); err != nil {
		t.Fatal(err)
	}
	if h.Sealed || len(h.Items) != 2 || !h.Items[0].Sealed || h.Items[1].Sealed || h.Items[1].Reason != "处置完毕" ||
		len(h.Periods) != 1 || h.Periods[0].From != "2026-11-10T08:00:00+08:00" || h.Periods[0].To != "2026-11-12T08:00:00+08:00" {
		t.Errorf("history after the unseal: %s", b)
	}

	for _, c := range []struct {
		who, what string
		body      any
		code      int
		err       string
	}{
		{"yx_super", "seal", `{"at": "next tuesday"}`, 400, "bad_request"},
		{"yx_super", "seal", map[string]string{"reason": strings.Repeat("因", 201)}, 400, "bad_request"},
		{"yx_super", "seal", `{"when": "2026-11-10"}`, 400, "bad_request"},
		{"hs_inspector", "seal", nil, 403, ""},
		{"wh_super", "seal", nil, 404, "not_found"},
		{"wh_inspector", "seals", nil, 404, "not_found"},
	} {
		method := "POST"
		if c.what == "seals" {
			method = "GET"
		}
		code, b := f.users[c.who].do(method, path(c.what), c.body)
		if code != c.code || (c.err != "" && errorCode(b) != c.err) {
			t.Errorf("%s %s %v: %d %s, want %d %s", c.who, c.what, c.body, code, b, c.code, c.err)
		}
	}

	var n, reasons int
	if err := f.db.Pool.QueryRow(t.Context(), `SELECT count(*), count(reason) FILTER (WHERE period_from IS NOT NULL)
		FROM audit_log WHERE action IN ('vehicle.seal', 'vehicle.unseal') AND vehicle_id = $1`, v).Scan(&n, &reasons); err != nil {
		t.Fatal(err)
	}
	if n != 4 || reasons != 3 {
		t.Errorf("%d seal audit entries (%d with a reason and a time), want 4 (3)", n, reasons)
	}
}
