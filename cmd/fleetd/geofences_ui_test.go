package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/alerts"
	"fleetmon/api/uitest"
)

const gfImportGeoJSON = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"黄石港停车场","kind":"parking"},
  "geometry":{"type":"Polygon","coordinates":[[[115.05,30.21],[115.06,30.21],[115.06,30.22],[115.05,30.22],[115.05,30.21]]]}},
 {"type":"Feature","properties":{"name":"磁湖山庄","kind":"sensitive","category":"hotel"},
  "geometry":{"type":"MultiPolygon","coordinates":[[[[115.02,30.18],[115.03,30.18],[115.03,30.19],[115.02,30.18]]]]}}]}`

const gfImportKML = `<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>东方山景区</name>
<ExtendedData><Data name="kind"><value>sensitive</value></Data><Data name="category"><value>scenic</value></Data></ExtendedData>
<Polygon><outerBoundaryIs><LinearRing><coordinates>115.0,30.15 115.01,30.15 115.01,30.16 115.0,30.16 115.0,30.15</coordinates></LinearRing></outerBoundaryIs></Polygon>
</Placemark></Document></kml>`

// gfBadGeoJSON has one good feature and two bad ones (a ring of two
// points; a sensitive place without a category).
const gfBadGeoJSON = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"好的围栏","kind":"parking"},
  "geometry":{"type":"Polygon","coordinates":[[[115.05,30.21],[115.06,30.21],[115.06,30.22],[115.05,30.21]]]}},
 {"type":"Feature","properties":{"name":"坏的围栏","kind":"parking"},
  "geometry":{"type":"Polygon","coordinates":[[[115.05,30.21],[115.06,30.21],[115.05,30.21]]]}},
 {"type":"Feature","properties":{"name":"没有类别","kind":"sensitive"},
  "geometry":{"type":"Polygon","coordinates":[[[115.05,30.21],[115.06,30.21],[115.06,30.22],[115.05,30.21]]]}}]}`

const gfLandmarks = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"黄石国际大酒店","category":"hotel"},"geometry":{"type":"Point","coordinates":[115.045,30.205]}},
 {"type":"Feature","properties":{"name":"市委大院","category":"compound"},
  "geometry":{"type":"Polygon","coordinates":[[[115.03,30.2],[115.035,30.2],[115.035,30.204],[115.03,30.204],[115.03,30.2]]]}}]}`

// auditJSON is an audit entry as GET /api/v1/audit lists it.
type gfAudit struct {
	Action string          `json:"action"`
	User   string          `json:"user"`
	Reason string          `json:"reason"`
	Detail json.RawMessage `json:"detail"`
}

// TestGeofencePageInBrowser drives the geofences page in headless
// Chromium as a 黄石市 supervisor on the grid base map: draws a fence,
// edits its shape (dragging a vertex) and its name, kind and dwell
// threshold, deletes it; imports a GeoJSON and a KML file of fences and a
// bad file (refused in Chinese, every bad feature listed, nothing
// changed); imports landmarks and finds one by name in the area search,
// which then searches around it. Each change is checked through the API
// and in the audit log. Screenshots are kept in
// test-artifacts/TestGeofencePageInBrowser/.
func TestGeofencePageInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 4*time.Minute)
	shots := uitest.ArtifactDir(t)
	const user, unit, password = "hs_gf", "湖北省/黄石市", "Huangshi-Geofence-2026!"
	db, otp, _ := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B50001,1,13800000051,湖北省/黄石市,general\n"+
		"鄂A60001,1,13800000061,湖北省/武汉市,general\n", user, "supervisor", unit)
	_, admin := addUser(t, db, "gf_auditor", "admin", "湖北省")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP

	unitID := apiUnitIDs(t, base, admin)
	fences := func() []fenceJSON { t.Helper(); return apiFences(t, base, admin) }
	fenceNamed := func(name string) (fenceJSON, bool) {
		for _, f := range fences() {
			if f.Name == name {
				return f, true
			}
		}
		return fenceJSON{}, false
	}
	audits := func() []gfAudit {
		t.Helper()
		var l struct {
			Items []gfAudit `json:"items"`
		}
		apiGet(t, base, admin, "/api/v1/audit?limit=500&user="+user, &l)
		return l.Items
	}
	countAudit := func(action string) int {
		n := 0
		for _, a := range audits() {
			if a.Action == action {
				n++
			}
		}
		return n
	}

	pg := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: func() string { return "fleetd:\n" + srv.Stderr.String() }}
	poll, do, eval, str := pg.Poll, pg.Do, pg.Eval, pg.String
	do(uitest.KeepMaps())
	uitest.Login(ctx, t, base, user, otp, password)
	poll("the navigation offers the geofences page", `document.querySelector('#nav a[data-page=geofences]') !== null`)
	do(chromedp.Navigate(base + "/ui/geofences.html"))
	poll("the geofences page", `document.body.dataset.ready === '1' && window.fmMaps?.length === 1`)
	poll("the drawing tools", `document.querySelector('.leaflet-pm-icon-polygon') !== null`)
	str(`(() => { const el = document.querySelector('#toast'); window.fmToasts = [];
		new MutationObserver(() => fmToasts.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
		return '' })()`)
	toasts := 0
	toast := func(what, want string) {
		t.Helper()
		poll(what, fmt.Sprintf(`fmToasts.length > %d && fmToasts.at(-1) === %q`, toasts, want))
		eval(`fmToasts.length`, &toasts)
	}

	var box struct{ X, Y, W, H float64 }
	eval(`(() => { const c = fmMaps[0].getContainer(), r = c.getBoundingClientRect();
		return {X: r.left + c.clientLeft, Y: r.top + c.clientTop, W: c.clientWidth, H: c.clientHeight} })()`, &box)
	type px struct{ x, y float64 }
	at := func(dx, dy float64) px { return px{math.Round(box.W/2 + dx), math.Round(box.H/2 + dy)} }
	latLng := func(p px) alerts.Point {
		var ll [2]float64
		eval(fmt.Sprintf(`(() => { const ll = fmMaps[0].containerPointToLatLng([%g, %g]); return [ll.lat, ll.lng] })()`, p.x, p.y), &ll)
		return alerts.Point{Lat: ll[0], Lon: ll[1]}
	}
	click := func(p px) {
		x, y := box.X+p.x, box.Y+p.y
		do(chromedp.MouseEvent(chromedp.MouseMoved, x, y), chromedp.MouseClickXY(x, y))
	}

	// Draw: a polygon, 定点停放, for 黄石市.
	poly := []px{at(-150, -100), at(50, -110), at(60, 60), at(-140, 70)}
	do(chromedp.Click(chromedp.CSS(".leaflet-pm-icon-polygon")))
	for _, p := range poly {
		click(p)
	}
	click(poly[0])
	poll("the fence form", `document.querySelector('#fence-dialog').open`)
	do(chromedp.Click(chromedp.CSS(`#fence-dialog input[name=name]`)), uitest.InsertText("临时停车点"))
	str(fmt.Sprintf(`(() => { const f = document.querySelector('#fence-dialog form');
		f.elements.kind.value = 'parking'; f.elements.kind.dispatchEvent(new Event('change'));
		f.elements.unit.value = '%d'; return '' })()`, unitID[unit]))
	do(chromedp.Click(chromedp.CSS(`#fence-dialog button[value=save]`)))
	toast("the fence saved", "围栏已保存")
	drawn, ok := fenceNamed("临时停车点")
	if !ok || drawn.Kind != "parking" || drawn.UnitID != unitID[unit] || drawn.Shape.Type != "polygon" {
		t.Fatalf("the drawn fence stored as %+v (%v)", drawn, ok)
	}
	poll("the fence listed and labelled", fmt.Sprintf(`document.querySelector('#gf-table tr[data-fence-id="%d"]') !== null &&
		[...document.querySelectorAll('.fence-label')].some(l => l.textContent === '临时停车点')`, drawn.ID))
	uitest.Screenshot(ctx, t, shots, "1-drawn")

	// Edit: pick it in the list, drag its first vertex, rename it, make it
	// a hotel with a 30-minute dwell threshold, save.
	do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#gf-table tr[data-fence-id="%d"] td`, drawn.ID))))
	poll("the edit form and the vertices", `!document.querySelector('#gf-edit').hidden &&
		document.querySelectorAll('.leaflet-marker-icon.marker-icon:not(.marker-icon-middle)').length === 4`)
	eval(`(() => { const c = fmMaps[0].getContainer(), r = c.getBoundingClientRect();
		return {X: r.left + c.clientLeft, Y: r.top + c.clientTop, W: c.clientWidth, H: c.clientHeight} })()`, &box)
	// The vertex nearest to where the first was drawn (the map has fitted
	// the fence, so it is found on the page).
	var v0 px
	var xy [2]float64
	eval(fmt.Sprintf(`(() => { const m = fmMaps[0]; const target = [%g, %g];
		const vs = [...document.querySelectorAll('.leaflet-marker-icon.marker-icon:not(.marker-icon-middle)')].map(e => {
			const r = e.getBoundingClientRect(), c = m.getContainer().getBoundingClientRect();
			return {x: r.left + r.width / 2 - c.left - m.getContainer().clientLeft, y: r.top + r.height / 2 - c.top - m.getContainer().clientTop}; });
		const p = m.latLngToContainerPoint(target);
		vs.sort((a, b) => Math.hypot(a.x - p.x, a.y - p.y) - Math.hypot(b.x - p.x, b.y - p.y));
		return [Math.round(vs[0].x), Math.round(vs[0].y)] })()`, drawn.Shape.Polygons[0][0][0].Lat, drawn.Shape.Polygons[0][0][0].Lon), &xy)
	v0 = px{xy[0], xy[1]}
	to := px{v0.x - 40, v0.y - 30}
	do(chromedp.MouseEvent(chromedp.MouseMoved, box.X+v0.x, box.Y+v0.y),
		chromedp.MouseEvent(chromedp.MousePressed, box.X+v0.x, box.Y+v0.y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	for i := 1; i <= 5; i++ {
		f := float64(i) / 5
		do(chromedp.MouseEvent(chromedp.MouseMoved, box.X+v0.x+(to.x-v0.x)*f, box.Y+v0.y+(to.y-v0.y)*f, chromedp.ButtonLeft))
	}
	do(chromedp.MouseEvent(chromedp.MouseReleased, box.X+to.x, box.Y+to.y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	// The vertex's position moves by the drag (the icon's centre, where it
	// was taken, need not be its exact point).
	var p0 [2]float64
	eval(fmt.Sprintf(`(() => { const p = fmMaps[0].latLngToContainerPoint([%g, %g]); return [p.x, p.y] })()`,
		drawn.Shape.Polygons[0][0][0].Lat, drawn.Shape.Polygons[0][0][0].Lon), &p0)
	moved := latLng(px{p0[0] + to.x - v0.x, p0[1] + to.y - v0.y})
	str(`(() => { const f = document.querySelector('#gf-edit');
		f.elements.name.value = '临时接待宾馆';
		f.elements.kind.value = 'sensitive'; f.elements.kind.dispatchEvent(new Event('change'));
		f.elements.category.value = 'hotel'; f.elements.dwell_min.value = '30'; return '' })()`)
	uitest.Screenshot(ctx, t, shots, "2-editing")
	do(chromedp.Click(chromedp.CSS(`#gf-save`)))
	toast("the fence changed", "围栏已修改")
	edited, ok := fenceNamed("临时接待宾馆")
	if !ok || edited.ID != drawn.ID || edited.Kind != "sensitive" || edited.Category != "hotel" {
		t.Fatalf("the edited fence stored as %+v (%v)", edited, ok)
	}
	var dwell struct {
		DwellMin float64 `json:"dwell_min"`
		Version  int     `json:"version"`
	}
	for _, raw := range fencesRaw(t, base, admin) {
		if strings.Contains(string(raw), fmt.Sprintf(`"id":%d,`, drawn.ID)) {
			_ = json.Unmarshal(raw, &dwell)
		}
	}
	if dwell.DwellMin != 30 || dwell.Version != 2 {
		t.Errorf("after the edit: dwell %v min, version %d; want 30 and 2 (one change)", dwell.DwellMin, dwell.Version)
	}
	ring := edited.Shape.Polygons[0][0]
	best := math.Inf(1)
	for _, p := range ring {
		best = math.Min(best, alerts.DistanceM(p.Lat, p.Lon, moved.Lat, moved.Lon))
	}
	if best > 3 {
		t.Errorf("no vertex stored where one was dragged to (%v): nearest %.1f m; ring %v", moved, best, ring)
	}
	if d := alerts.DistanceM(ring[0].Lat, ring[0].Lon, drawn.Shape.Polygons[0][0][0].Lat, drawn.Shape.Polygons[0][0][0].Lon); d < 20 &&
		alerts.DistanceM(ring[0].Lat, ring[0].Lon, moved.Lat, moved.Lon) > 3 {
		t.Errorf("the dragged vertex did not move: %v", ring[0])
	}
	var upd gfAudit
	for _, a := range audits() {
		if a.Action == "geofence.update" {
			upd = a
		}
	}
	var changed struct {
		Changed []string `json:"changed"`
	}
	_ = json.Unmarshal(upd.Detail, &changed)
	for _, want := range []string{"name", "kind", "category", "dwell_min", "shape"} {
		if !slices.Contains(changed.Changed, want) {
			t.Errorf("the update's audit entry names %v as changed, want %s among them", changed.Changed, want)
		}
	}
	poll("the new name labelled", `[...document.querySelectorAll('.fence-label')].some(l => l.textContent === '临时接待宾馆')`)
	uitest.Screenshot(ctx, t, shots, "3-edited")

	// Delete: two clicks.
	do(chromedp.Click(chromedp.CSS(`#gf-delete`)))
	poll("delete asks again", `document.querySelector('#gf-delete').classList.contains('armed')`)
	if _, ok := fenceNamed("临时接待宾馆"); !ok {
		t.Fatalf("one click deleted the fence")
	}
	do(chromedp.Click(chromedp.CSS(`#gf-delete`)))
	toast("the fence deleted", "围栏已删除")
	if _, ok := fenceNamed("临时接待宾馆"); ok {
		t.Errorf("the deleted fence is still listed by the API")
	}
	if n := countAudit("geofence.delete"); n != 1 {
		t.Errorf("%d geofence.delete audit entries, want 1", n)
	}

	// Imports: GeoJSON and KML fences, then a bad file.
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	importFile := func(what, path string) {
		t.Helper()
		str(fmt.Sprintf(`(() => { document.querySelector('#imp-what').value = %q;
			document.querySelector('#imp-unit').value = '%d'; return '' })()`, what, unitID[unit]))
		do(chromedp.SetUploadFiles(chromedp.CSS(`#imp-file`), []string{path}))
		poll("the result cleared", `document.querySelectorAll('#imp-errors li').length === 0`)
		do(chromedp.Click(chromedp.CSS(`#imp-go`)))
		poll("the import answered", `document.querySelectorAll('#imp-errors li').length > 0`)
	}
	importFile("fences", file("fences.geojson", gfImportGeoJSON))
	if got := str(`document.querySelector('#imp-errors').textContent`); got != "已导入 2 个" {
		t.Errorf("GeoJSON import says %q", got)
	}
	importFile("fences", file("fence.kml", gfImportKML))
	if got := str(`document.querySelector('#imp-errors').textContent`); got != "已导入 1 个" {
		t.Errorf("KML import says %q", got)
	}
	for _, name := range []string{"黄石港停车场", "磁湖山庄", "东方山景区"} {
		if f, ok := fenceNamed(name); !ok || f.UnitID != unitID[unit] {
			t.Errorf("imported fence %s: %+v (%v)", name, f, ok)
		}
	}
	poll("the imported fences listed", `document.querySelectorAll('#gf-table tr[data-fence-id]').length === 3`)
	before, creates := len(fences()), countAudit("geofence.create")
	importFile("fences", file("bad.geojson", gfBadGeoJSON))
	var lines []string
	eval(`[...document.querySelectorAll('#imp-errors li')].map(l => l.textContent)`, &lines)
	if len(lines) != 3 || lines[0] != "文件未导入，任何内容都没有改变：" ||
		!strings.HasPrefix(lines[1], "#2 “坏的围栏”：多边形的边界只有 2 个点") || !strings.HasPrefix(lines[2], "#3 “没有类别”：敏感区域须有类别") {
		t.Errorf("the bad file's refusal shows %q", lines)
	}
	uitest.Screenshot(ctx, t, shots, "4-bad-file-refused")
	if n := len(fences()); n != before {
		t.Errorf("%d fences after the bad file, %d before", n, before)
	}
	if _, ok := fenceNamed("好的围栏"); ok {
		t.Errorf("the bad file's good feature was imported")
	}
	if n := countAudit("geofence.create"); n != creates || creates != 3 {
		t.Errorf("geofence.create audit entries: %d before the bad file, %d after; want 3 (one drawn, two files)", creates, n)
	}

	// Landmarks.
	importFile("landmarks", file("landmarks.geojson", gfLandmarks))
	if got := str(`document.querySelector('#imp-errors').textContent`); got != "地标：新增 2，更新 0，未变 0" {
		t.Errorf("landmark import says %q", got)
	}
	var lms struct {
		Items []struct {
			Name   string `json:"name"`
			UnitID int64  `json:"unit_id"`
		} `json:"items"`
	}
	apiGet(t, base, admin, "/api/v1/landmarks", &lms)
	if len(lms.Items) != 2 || lms.Items[0].UnitID != unitID[unit] {
		t.Errorf("landmarks stored: %+v", lms.Items)
	}
	if n := countAudit("landmark.import"); n != 1 {
		t.Errorf("%d landmark.import audit entries, want 1", n)
	}
	poll("the landmarks labelled", `[...document.querySelectorAll('.landmark-label')].map(l => l.textContent).sort().join() === '市委大院,黄石国际大酒店'`)
	uitest.Screenshot(ctx, t, shots, "5-imported")

	// Area search: "the hotel" found by name sets the area around it.
	do(chromedp.Navigate(base + "/ui/area.html"))
	poll("the area page with its labels", `window.fmMaps?.length >= 1 && document.querySelector('#place-q') !== null &&
		[...document.querySelectorAll('.landmark-label')].some(l => l.textContent === '黄石国际大酒店') &&
		[...document.querySelectorAll('.fence-label')].some(l => l.textContent === '磁湖山庄')`)
	do(chromedp.Click(chromedp.CSS(`#place-q`)), uitest.InsertText("大酒店"))
	poll("the hotel found", `document.querySelector('#place-results li[data-label="黄石国际大酒店"]') !== null`)
	do(chromedp.Click(chromedp.CSS(`#place-results li[data-label="黄石国际大酒店"]`)))
	poll("the area set around it", `document.querySelector('#area-desc').textContent.includes('30.20500')`)
	do(chromedp.Click(chromedp.CSS(`#reason`)), uitest.InsertText("举报核查：车辆停在酒店"))
	do(chromedp.Click(chromedp.CSS(`#go`)))
	poll("the search answered", `document.querySelector('#found').textContent !== ''`)
	uitest.Screenshot(ctx, t, shots, "6-area-search-by-place")
	var search gfAudit
	for _, a := range audits() {
		if a.Action == "area.search" {
			search = a
		}
	}
	var d struct {
		Area struct {
			Type        string    `json:"type"`
			Coordinates []float64 `json:"coordinates"`
		} `json:"area"`
		RadiusM float64 `json:"radius_m"`
	}
	_ = json.Unmarshal(search.Detail, &d)
	if search.Reason != "举报核查：车辆停在酒店" || d.Area.Type != "Point" || len(d.Area.Coordinates) != 2 ||
		math.Abs(d.Area.Coordinates[0]-115.045) > 1e-9 || math.Abs(d.Area.Coordinates[1]-30.205) > 1e-9 || d.RadiusM != 300 {
		t.Errorf("the area search audited as %+v %s, want 300 m around 黄石国际大酒店", search, search.Detail)
	}
}

// fencesRaw lists the fences as the API sends them, one JSON object each.
func fencesRaw(t *testing.T, base, token string) []json.RawMessage {
	t.Helper()
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	apiGet(t, base, token, "/api/v1/geofences", &l)
	return l.Items
}

// apiUnitIDs maps the paths of the units token's user sees to their ids.
func apiUnitIDs(t *testing.T, base, token string) map[string]int64 {
	t.Helper()
	var units struct {
		Items []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"items"`
	}
	apiGet(t, base, token, "/api/v1/units", &units)
	ids := map[string]int64{}
	for _, u := range units.Items {
		ids[u.Path] = u.ID
	}
	return ids
}

// apiFences lists the fences token's user sees.
func apiFences(t *testing.T, base, token string) []fenceJSON {
	t.Helper()
	var l struct {
		Items []fenceJSON `json:"items"`
	}
	apiGet(t, base, token, "/api/v1/geofences", &l)
	return l.Items
}
