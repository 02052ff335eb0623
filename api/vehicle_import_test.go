package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const importHeader = "plate,plate_color,terminal_phone,unit,category\n"

// TestVehicleImportWithinJurisdiction: a supervisor's import is refused
// whole, with every bad line, for a unit outside their subtree, a unit
// that does not exist (only the top creates units), a plate or a
// terminal held outside it, and for a line that does not parse; nothing of
// it is imported. A good file imports, audited; the top creates units.
func TestVehicleImportWithinJurisdiction(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	yx, admin := f.users["yx_super"], f.users["admin"]
	count := func(plate string) int {
		t.Helper()
		_, body := admin.do("GET", "/api/v1/vehicles?plate="+plate, nil)
		n, _ := total(t, body)
		return n
	}
	lines := func(body string) map[int]string {
		var b struct {
			Error struct {
				Code  string      `json:"code"`
				Lines []lineError `json:"lines"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &b); err != nil || b.Error.Code != "bad_lines" {
			t.Fatalf("not bad_lines: %s", body)
		}
		out := map[int]string{}
		for _, l := range b.Error.Lines {
			out[l.Line] = l.Message
		}
		return out
	}

	// Jurisdiction: every line outside is named, nothing imported.
	code, body := yx.do("POST", "/api/v1/vehicles/import", importHeader+
		"B90001,1,,湖北省/黄石市/阳新县,general\n"+
		"B90002,1,,湖北省/武汉市,general\n"+
		"B90003,1,,湖北省/黄石市/阳新县/新单位,general\n"+
		"鄂A00003,1,,湖北省/黄石市/阳新县,general\n"+
		"B90005,1,13800000003,湖北省/黄石市/阳新县,general\n")
	got := lines(body)
	if code != 400 || len(got) != 4 || got[3] == "" || got[4] == "" || got[5] == "" || got[6] == "" {
		t.Errorf("an import reaching outside: %d %s", code, body)
	}
	if n := count("B9000"); n != 0 {
		t.Errorf("a refused import created %d vehicles", n)
	}
	// A line that does not parse: named.
	req := importHeader + "B90001,1,,湖北省/黄石市/阳新县,general\nB90002,x,,湖北省/黄石市/阳新县,general\n"
	code, body = yx.do("POST", "/api/v1/vehicles/import", req)
	if got := lines(body); code != 400 || len(got) != 1 || !strings.HasPrefix(got[3], "plate_color") {
		t.Errorf("a line that does not parse: %d %s", code, body)
	}
	if n := count("B9000"); n != 0 {
		t.Errorf("a refused import created %d vehicles", n)
	}

	// A good file: imported and audited; a terminal moves within it.
	code, body = yx.do("POST", "/api/v1/vehicles/import", importHeader+"B90001,1,13800000001,湖北省/黄石市/阳新县,general\n")
	if code != 200 || !strings.Contains(body, `"created":1`) {
		t.Fatalf("a good import: %d %s", code, body)
	}
	_, body = admin.do("GET", "/api/v1/audit?limit=50", nil)
	if !strings.Contains(body, `"vehicle.import"`) {
		t.Errorf("the import not audited: %s", body)
	}
	// The top creates the units it names.
	code, body = admin.do("POST", "/api/v1/vehicles/import", importHeader+"B90009,1,,湖北省/荆州市,general\n")
	if code != 200 || count("B90009") != 1 {
		t.Errorf("an import at the top with a new unit: %d %s", code, body)
	}
}

// TestBindTerminalMove: binding a terminal held by another vehicle is a
// conflict unless move is asked; move takes it only from a vehicle in the
// caller's subtree, and the audit entry says where from.
func TestBindTerminalMove(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	yx, hs := f.users["yx_super"], f.users["admin"]
	code, body := yx.do("POST", "/api/v1/vehicles", map[string]any{"plate": "B91001", "unit_id": f.units["湖北省/黄石市/阳新县"]})
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var v vehicleJSON
	_ = json.Unmarshal([]byte(body), &v)
	path := fmt.Sprintf("/api/v1/vehicles/%d/terminal", v.ID)
	if code, body := yx.do("PUT", path, map[string]any{"phone": "13800000001"}); code != 409 {
		t.Errorf("a terminal of another vehicle without move: %d %s", code, body)
	}
	// 13800000003 is 武汉市's: move does not reach it.
	if code, body := yx.do("PUT", path, map[string]any{"phone": "13800000003", "move": true}); code != 409 {
		t.Errorf("a terminal outside moved: %d %s", code, body)
	}
	if code, body := yx.do("PUT", path, map[string]any{"phone": "13800000001", "move": true}); code != 200 || !strings.Contains(body, `"terminal_phone":"13800000001"`) {
		t.Errorf("a terminal moved within the jurisdiction: %d %s", code, body)
	}
	_, body = hs.do("GET", fmt.Sprintf("/api/v1/vehicles/%d", f.veh["鄂B00001"]), nil)
	if !strings.Contains(body, `"terminal_phone":""`) {
		t.Errorf("the vehicle the terminal left: %s", body)
	}
	_, body = hs.do("GET", "/api/v1/audit?limit=50", nil)
	if !strings.Contains(body, `"moved_from":"鄂B00001"`) {
		t.Errorf("the move not in the audit log: %s", body)
	}
}
