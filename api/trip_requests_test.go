package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// doIn sends a JSON request asking for lang and returns the status and body.
func doIn(c *client, lang, method, path string, body any) (int, string) {
	c.f.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.f.ts.URL+path, strings.NewReader(string(j)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", lang)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tripBody is a request for a car on day d from h1 to h2 o'clock.
func tripBody(ref string, d time.Time, h1, h2 int) map[string]any {
	return map[string]any{"client_ref": ref, "purpose": "赴县政府参加会议", "passengers": 3, "destination": "阳新县人民政府",
		"from": d.Add(time.Duration(h1) * time.Hour), "to": d.Add(time.Duration(h2) * time.Hour)}
}

// auditCount counts the audit entries of action about request id.
func (f *fixture) tripAudits(action string, id int64) int {
	f.t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log
		WHERE action = $1 AND (detail->>'request_id')::bigint = $2`, action, id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func mustStatus(t *testing.T, what string, code int, body string, want int, wantCode string) {
	t.Helper()
	if code != want || (wantCode != "" && errorCode(body) != wantCode) {
		t.Fatalf("%s: %d %s, want %d %s", what, code, body, want, wantCode)
	}
}

// TestTripRequests walks requests through application, approval and
// dispatch: staff see only their requests and nothing else of the
// platform; supervisors decide and dispatch within their jurisdiction,
// never their own request; inspectors only read; a busy or sealed vehicle
// is refused with its code, in Chinese when asked; every step is audited
// once however often it is sent.
func TestTripRequests(t *testing.T) {
	f, _ := alertFixture(t, nil)
	const center = "湖北省/黄石市/阳新县/县机关事务中心"
	staff := f.addUser("yx_staff", RoleStaff, center)
	staff2 := f.addUser("yx_staff2", RoleStaff, center)
	whStaff := f.addUser("wh_staff", RoleStaff, "湖北省/武汉市")
	ysup, wsup, insp := f.users["yx_super"], f.users["wh_super"], f.users["hs_inspector"]
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, cst)

	// Staff reach their requests and nothing of the monitoring.
	for _, p := range []string{"/api/v1/vehicles", "/api/v1/live", "/api/v1/alerts", "/api/v1/drivers", "/api/v1/units"} {
		code, body := staff.do("GET", p, nil)
		mustStatus(t, "staff GET "+p, code, body, 403, "forbidden")
	}
	code, body := staff.do("POST", "/api/v1/trip-requests", map[string]any{"client_ref": "x", "purpose": "会议", "passengers": 2,
		"destination": "县政府", "from": day, "to": day.Add(time.Hour), "unit_id": f.units["湖北省/武汉市"]})
	mustStatus(t, "staff request for another unit", code, body, 403, "forbidden")

	code, body = staff.do("POST", "/api/v1/trip-requests", tripBody("OA-2026-001", day, 8, 12))
	mustStatus(t, "request", code, body, 201, "")
	req := decodeJSON[tripRequestJSON](t, body)
	if req.Status != "pending" || req.Requester != "yx_staff" || req.UnitID != f.units[center] {
		t.Fatalf("request %+v", req)
	}
	code, body = staff.do("POST", "/api/v1/trip-requests", tripBody("OA-2026-001", day, 8, 12))
	if again := decodeJSON[tripRequestJSON](t, body); code != 200 || again.ID != req.ID {
		t.Fatalf("the request sent again: %d %s", code, body)
	}
	if n := f.tripAudits("trip_request.create", req.ID); n != 1 {
		t.Fatalf("%d audit entries of the request, want 1", n)
	}

	// Who sees it.
	for _, c := range []struct {
		who  *client
		name string
		want int
	}{{staff, "requester", 200}, {staff2, "other staff", 404}, {whStaff, "staff elsewhere", 404},
		{ysup, "supervisor", 200}, {insp, "inspector above", 200}, {wsup, "supervisor elsewhere", 404}} {
		code, body := c.who.do("GET", fmt.Sprintf("/api/v1/trip-requests/%d", req.ID), nil)
		mustStatus(t, c.name+" reads the request", code, body, c.want, "")
		_, body = c.who.do("GET", "/api/v1/trip-requests", nil)
		if n, _ := total(t, body); (n == 1) != (c.want == 200) {
			t.Errorf("%s lists %d requests: %s", c.name, n, body)
		}
	}

	// Who decides it.
	approve := fmt.Sprintf("/api/v1/trip-requests/%d/approve", req.ID)
	code, body = staff.do("POST", approve, map[string]string{})
	mustStatus(t, "staff approves", code, body, 403, "forbidden")
	code, body = insp.do("POST", approve, map[string]string{})
	mustStatus(t, "inspector approves", code, body, 403, "forbidden")
	code, body = wsup.do("POST", approve, map[string]string{})
	mustStatus(t, "supervisor elsewhere approves", code, body, 404, "not_found")
	code, body = ysup.do("POST", "/api/v1/trip-requests", tripBody("own-1", day, 14, 15))
	mustStatus(t, "supervisor's own request", code, body, 201, "")
	own := decodeJSON[tripRequestJSON](t, body)
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/approve", own.ID), map[string]string{})
	mustStatus(t, "approving one's own request", code, body, 403, "own_request")
	for range 2 {
		code, body = ysup.do("POST", approve, map[string]string{"reason": "同意"})
		if code != 200 || decodeJSON[tripRequestJSON](t, body).Status != "approved" {
			t.Fatalf("approve: %d %s", code, body)
		}
	}
	if n := f.tripAudits("trip_request.approve", req.ID); n != 1 {
		t.Fatalf("%d audit entries of the approval, want 1", n)
	}
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/reject", req.ID), map[string]string{"reason": "改主意"})
	mustStatus(t, "rejecting an approved request", code, body, 409, "request_state")

	// Drivers: one list per unit, added once.
	d1 := map[string]any{"unit_id": f.units[center], "name": "王师傅", "phone": "13900000001"}
	code, body = ysup.do("POST", "/api/v1/drivers", d1)
	mustStatus(t, "add a driver", code, body, 201, "")
	driver := decodeJSON[driverJSON](t, body)
	code, body = ysup.do("POST", "/api/v1/drivers", d1)
	if code != 200 || decodeJSON[driverJSON](t, body).ID != driver.ID {
		t.Fatalf("the driver added again: %d %s", code, body)
	}
	if _, body = wsup.do("GET", "/api/v1/drivers", nil); strings.Contains(body, "王师傅") {
		t.Fatalf("a driver seen outside the jurisdiction: %s", body)
	}
	code, body = wsup.do("POST", "/api/v1/drivers", d1)
	mustStatus(t, "a driver added outside the jurisdiction", code, body, 404, "not_found")

	// Dispatch: a vehicle of the jurisdiction only, once.
	dispatch := fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", req.ID)
	code, body = ysup.do("POST", dispatch, map[string]any{"vehicle_id": f.veh["鄂B00002"], "driver_id": driver.ID})
	mustStatus(t, "dispatching a vehicle outside the jurisdiction", code, body, 404, "not_found")
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", own.ID),
		map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver_id": driver.ID})
	mustStatus(t, "dispatching a pending request", code, body, 409, "request_state")
	var disp tripRequestJSON
	for range 2 {
		code, body = ysup.do("POST", dispatch, map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver_id": driver.ID})
		disp = decodeJSON[tripRequestJSON](t, body)
		if code != 200 || disp.Status != "dispatched" || disp.ApprovalID == 0 || disp.Plate != "鄂B00001" || disp.Driver != "王师傅" {
			t.Fatalf("dispatch: %d %s", code, body)
		}
	}
	if n := f.tripAudits("trip_request.dispatch", req.ID); n != 1 {
		t.Fatalf("%d audit entries of the dispatch, want 1", n)
	}
	// The dispatch is an approval as the rules know them.
	_, body = ysup.do("GET", fmt.Sprintf("/api/v1/approvals?vehicle=%d", f.veh["鄂B00001"]), nil)
	if !strings.Contains(body, fmt.Sprintf(`"id":%d`, disp.ApprovalID)) || !strings.Contains(body, "赴县政府参加会议") {
		t.Fatalf("the dispatch's approval is not listed: %s", body)
	}

	// A second request overlapping it may not have the same vehicle.
	code, body = staff.do("POST", "/api/v1/trip-requests", tripBody("OA-2026-002", day, 11, 13))
	mustStatus(t, "second request", code, body, 201, "")
	second := decodeJSON[tripRequestJSON](t, body)
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/approve", second.ID), map[string]string{})
	mustStatus(t, "approve the second", code, body, 200, "")
	code, body = doIn(ysup, "zh-CN", "POST", fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", second.ID),
		map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver_id": driver.ID})
	mustStatus(t, "dispatching a busy vehicle", code, body, 409, "vehicle_busy")
	if !strings.Contains(body, "车辆 鄂B00001 在该时段已被派出") {
		t.Fatalf("the refusal in Chinese: %s", body)
	}
	// A rental car (公务租车) has no terminal: recorded, with no approval.
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", second.ID),
		map[string]any{"rental_plate": "鄂B8R888", "rental_company": "黄石公务租车公司", "rental_driver": "刘师傅"})
	if rent := decodeJSON[tripRequestJSON](t, body); code != 200 || rent.ApprovalID != 0 || rent.RentalPlate != "鄂B8R888" || rent.Driver != "刘师傅" {
		t.Fatalf("rental dispatch: %d %s", code, body)
	}

	// A rejection needs its reason; a rejected request is not dispatched.
	code, body = staff.do("POST", "/api/v1/trip-requests", tripBody("OA-2026-003", day.AddDate(0, 0, 1), 8, 9))
	mustStatus(t, "third request", code, body, 201, "")
	third := decodeJSON[tripRequestJSON](t, body)
	reject := fmt.Sprintf("/api/v1/trip-requests/%d/reject", third.ID)
	code, body = ysup.do("POST", reject, map[string]string{})
	mustStatus(t, "rejecting without a reason", code, body, 400, "bad_request")
	code, body = ysup.do("POST", reject, map[string]string{"reason": "可合并出行"})
	if r := decodeJSON[tripRequestJSON](t, body); code != 200 || r.Status != "rejected" || r.DecisionReason != "可合并出行" {
		t.Fatalf("reject: %d %s", code, body)
	}
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", third.ID),
		map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver_id": driver.ID})
	mustStatus(t, "dispatching a rejected request", code, body, 409, "request_state")
	_, body = staff.do("GET", fmt.Sprintf("/api/v1/trip-requests/%d", third.ID), nil)
	if r := decodeJSON[tripRequestJSON](t, body); r.Status != "rejected" || r.DecisionReason != "可合并出行" {
		t.Fatalf("the requester sees %s", body)
	}

	// Emergency use recorded afterwards (补录): its reason, flagged, once.
	past := time.Date(2026, 11, 21, 0, 0, 0, 0, cst)
	em := tripBody("EM-1", past, 20, 22)
	em["vehicle_id"], em["driver_id"] = f.veh["鄂B00001"], driver.ID
	code, body = ysup.do("POST", "/api/v1/trip-requests/emergency", em)
	mustStatus(t, "emergency without a reason", code, body, 400, "bad_request")
	em["reason"] = "防汛抢险"
	future := tripBody("EM-2", day.AddDate(0, 0, 3), 8, 9)
	future["vehicle_id"], future["driver_id"], future["reason"] = f.veh["鄂B00001"], driver.ID, "防汛抢险"
	code, body = ysup.do("POST", "/api/v1/trip-requests/emergency", future)
	mustStatus(t, "emergency use to come", code, body, 400, "bad_request")
	code, body = staff.do("POST", "/api/v1/trip-requests/emergency", em)
	mustStatus(t, "staff records emergency use", code, body, 403, "forbidden")
	code, body = ysup.do("POST", "/api/v1/trip-requests/emergency", em)
	emergency := decodeJSON[tripRequestJSON](t, body)
	if code != 201 || !emergency.Emergency || emergency.EmergencyReason != "防汛抢险" || emergency.Status != "dispatched" || emergency.ApprovalID == 0 {
		t.Fatalf("emergency: %d %s", code, body)
	}
	code, body = ysup.do("POST", "/api/v1/trip-requests/emergency", em)
	if code != 200 || decodeJSON[tripRequestJSON](t, body).ID != emergency.ID {
		t.Fatalf("emergency sent again: %d %s", code, body)
	}
	if n := f.tripAudits("trip_request.emergency", emergency.ID); n != 1 {
		t.Fatalf("%d audit entries of the emergency use, want 1", n)
	}

	// A sealed vehicle is not dispatched.
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", f.veh["鄂B00001"]), map[string]string{"reason": "节日封存"})
	mustStatus(t, "seal", code, body, 200, "")
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/approve", own.ID), map[string]string{})
	mustStatus(t, "approving one's own request again", code, body, 403, "own_request")
	code, body = staff.do("POST", "/api/v1/trip-requests", tripBody("OA-2026-004", day.AddDate(0, 0, 2), 8, 9))
	fourth := decodeJSON[tripRequestJSON](t, body)
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/approve", fourth.ID), map[string]string{})
	mustStatus(t, "approve the fourth", code, body, 200, "")
	code, body = ysup.do("POST", fmt.Sprintf("/api/v1/trip-requests/%d/dispatch", fourth.ID),
		map[string]any{"vehicle_id": f.veh["鄂B00001"], "driver_id": driver.ID})
	mustStatus(t, "dispatching a sealed vehicle", code, body, 409, "vehicle_sealed")
	_, body = staff.do("GET", fmt.Sprintf("/api/v1/trip-requests/%d", fourth.ID), nil)
	if r := decodeJSON[tripRequestJSON](t, body); r.Status != "approved" {
		t.Fatalf("a refused dispatch changed the request: %s", body)
	}

	// An OA system files requests with an API token of a staff account.
	id, tok, err := f.srv.acct.CreateToken(context.Background(), "yx_staff", "OA")
	if err != nil || id == 0 {
		t.Fatal(err)
	}
	oa := f.newClient()
	oa.bearer = tok
	f.secret = append(f.secret, tok)
	code, body = oa.do("POST", "/api/v1/trip-requests", tripBody("OA-2026-005", day.AddDate(0, 0, 5), 8, 9))
	mustStatus(t, "OA request", code, body, 201, "")
	code, body = oa.do("GET", "/api/v1/vehicles", nil)
	mustStatus(t, "OA reads vehicles", code, body, 403, "forbidden")
}
