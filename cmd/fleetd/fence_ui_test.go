package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"fleetmon/alerts"
	"fleetmon/api/uitest"
	"fleetmon/ingest/jt808"
)

// gcjFromWGS returns GCJ-02 (the datum AMap and Tencent tiles are drawn
// in) of a WGS-84 position. It is written here apart from the UI's
// gcj02.js, so that the browser test checks the page's conversion against
// another implementation of the published algorithm; TestGCJFromWGS pins
// it to published pairs.
func gcjFromWGS(lat, lon float64) (float64, float64) {
	if lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271 {
		return lat, lon // outside China the datums coincide
	}
	const a = 6378245.0               // Krasovsky 1940 semi-major axis, metres
	const ee = 0.00669342162296594323 // its first eccentricity squared
	x, y := lon-105, lat-35
	// Both offsets share the terms in x.
	common := (20*math.Sin(6*x*math.Pi) + 20*math.Sin(2*x*math.Pi)) * 2 / 3
	dLat := -100 + 2*x + 3*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x)) + common +
		(20*math.Sin(y*math.Pi)+40*math.Sin(y/3*math.Pi))*2/3 +
		(160*math.Sin(y/12*math.Pi)+320*math.Sin(y*math.Pi/30))*2/3
	dLon := 300 + x + 2*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x)) + common +
		(20*math.Sin(x*math.Pi)+40*math.Sin(x/3*math.Pi))*2/3 +
		(150*math.Sin(x/12*math.Pi)+300*math.Sin(x/30*math.Pi))*2/3
	rad := lat / 180 * math.Pi
	magic := 1 - ee*math.Sin(rad)*math.Sin(rad)
	sq := math.Sqrt(magic)
	dLat = dLat * 180 / ((a * (1 - ee)) / (magic * sq) * math.Pi)
	dLon = dLon * 180 / (a / sq * math.Cos(rad) * math.Pi)
	return lat + dLat, lon + dLon
}

// TestGCJFromWGS checks the test's own GCJ-02 against published pairs
// (coordtransform's example; eviltransform's Shanghai, Shenzhen and
// Beijing vectors) and that it leaves Tokyo alone.
func TestGCJFromWGS(t *testing.T) {
	for _, p := range [][4]float64{
		{39.915, 116.404, 39.91640428150164, 116.41024449916938},
		{31.1774276, 121.5272106, 31.17530398364597, 121.531541859215},
		{22.543847, 113.912316, 22.540796131694766, 113.9171764808363},
		{39.911954, 116.377817, 39.91334545536069, 116.38404722455657},
		{35.6812, 139.7671, 35.6812, 139.7671},
	} {
		lat, lon := gcjFromWGS(p[0], p[1])
		if d := alerts.DistanceM(lat, lon, p[2], p[3]); d > 0.001 {
			t.Errorf("gcjFromWGS(%v, %v) = %v, %v: %.4f m from the published %v, %v", p[0], p[1], lat, lon, d, p[2], p[3])
		}
	}
}

// fenceJSON is a fence as GET /api/v1/geofences lists it.
type fenceJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Category string `json:"category"`
	UnitID   int64  `json:"unit_id"`
	Shape    struct {
		Type     string             `json:"type"`
		Polygons [][][]alerts.Point `json:"polygons"`
		Center   alerts.Point       `json:"center"`
		RadiusM  float64            `json:"radius_m"`
	} `json:"shape"`
}

// TestFenceDrawingInBrowser draws geofences on the live map in headless
// Chromium with leaflet-geoman's own tools, by mouse, saves them through
// the page's form, and checks through the API that they are stored where
// they were drawn, in WGS-84, and drawn on the map again: on the plain
// base map (WGS-84), as a 黄石市 supervisor who also cannot give a fence to
// 武汉市, and on a GCJ-02 base map (an intranet AMap-style tile server, not
// reachable: the map still works), as an admin, where what was drawn must
// be shifted back to WGS-84. Screenshots are kept in
// test-artifacts/TestFenceDrawingInBrowser_<datum>/.
func TestFenceDrawingInBrowser(t *testing.T) {
	t.Run("wgs84", func(t *testing.T) { testFenceDrawing(t, false) })
	t.Run("gcj02", func(t *testing.T) { testFenceDrawing(t, true) })
}

func testFenceDrawing(t *testing.T, gcj bool) {
	ctx := uitest.Browser(t, 3*time.Minute)
	shots := uitest.ArtifactDir(t)
	role, user, unit, password := "supervisor", "hs_fence", "湖北省/黄石市", "Huangshi-Fence-2026!"
	if gcj {
		role, user, unit, password = "admin", "hb_admin", "湖北省", "Hubei-Admin-2026!"
	}
	db, otp, _ := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B30001,1,13800000031,湖北省/黄石市,general\n"+
		"鄂B30002,1,13800000032,湖北省/黄石市/阳新县,general\n"+
		"鄂A40001,1,13800000041,湖北省/武汉市,general\n", user, role, unit)
	// The checks read the API as an admin, who sees every fence.
	_, admin := addUser(t, db, "fence_auditor", "admin", "湖北省")
	args := []string{"--db", db, "--data-dir", t.TempDir()}
	if gcj {
		args = append(args, "--tile-url", "/tiles/{z}/{x}/{y}.png", "--tile-crs", "gcj02")
	}
	srv := startServe(t, args...)
	base := "http://" + srv.HTTP

	var cfg struct {
		BaseMaps []struct {
			CRS string `json:"crs"`
		} `json:"base_maps"`
	}
	apiGet(t, base, admin, "/api/v1/ui/config", &cfg)
	if want := map[bool]int{false: 0, true: 1}[gcj]; len(cfg.BaseMaps) != want || gcj && cfg.BaseMaps[0].CRS != "gcj02" {
		t.Fatalf("ui config %+v, want %d base maps (gcj02)", cfg, want)
	}
	unitID := apiUnitIDs(t, base, admin)
	fences := func() []fenceJSON { t.Helper(); return apiFences(t, base, admin) }
	byName := func(name string) fenceJSON {
		t.Helper()
		for _, f := range fences() {
			if f.Name == name {
				return f
			}
		}
		t.Fatalf("no fence %q stored; stored: %+v", name, fences())
		return fenceJSON{}
	}

	// 鄂B30001 reports where it stands, in 黄石市: the map opens there.
	const vLat, vLon = 30.20, 115.04
	tm := dialTerminal(t, srv.JT808, "13800000031")
	tm.login("鄂B30001")
	loc := jt808.Location{Status: jt808.StatusFixed, LatE6: uint32(vLat * 1e6), LonE6: uint32(vLon * 1e6), Time: jt808.NewBCDTime(time.Now())}
	tm.expectOK("location", jt808.IDLocation, loc.AppendTo(nil, jt808.Version2013))

	pg := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: func() string { return "fleetd:\n" + srv.Stderr.String() }}
	poll, do, eval, str := pg.Poll, pg.Do, pg.Eval, pg.String
	do(uitest.KeepMaps())
	uitest.Login(ctx, t, base, user, otp, password)
	poll("the map fitted to 鄂B30001", `window.fmMaps?.length === 1 && fmMaps[0].getZoom() === 14`)
	poll("the drawing tools", `document.querySelector('.leaflet-pm-icon-polygon') !== null`)
	// The map shows the car in its datum: shifted on the GCJ-02 map.
	var center [2]float64
	eval(`[fmMaps[0].getCenter().lat, fmMaps[0].getCenter().lng]`, &center)
	wantLat, wantLon := vLat, vLon
	if gcj {
		wantLat, wantLon = gcjFromWGS(vLat, vLon)
	}
	if d := alerts.DistanceM(center[0], center[1], wantLat, wantLon); d > 1 {
		t.Fatalf("the map is centred on %v, %.1f m from 鄂B30001 as %s shows it", center, d, map[bool]string{false: "WGS-84", true: "GCJ-02"}[gcj])
	}
	// With no tiles, the grid says where the map is: each line labelled
	// once at the map's edge, no two labels on top of each other.
	if msg := str(`(() => {
		const r = [...document.querySelectorAll('.grid-labels span')].map(s => [s.textContent, s.getBoundingClientRect()]);
		const lon = r.filter(([t]) => t.endsWith('E')).length, lat = r.filter(([t]) => t.endsWith('N')).length;
		if (lon < 3 || lat < 3 || new Set(r.map(([t]) => t)).size !== r.length) return 'labels: ' + r.map(([t]) => t).join(' ');
		for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
			const a = r[i][1], b = r[j][1];
			if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) return r[i][0] + ' overlaps ' + r[j][0];
		}
		return '' })()`); msg != "" {
		t.Errorf("coordinate grid: %s", msg)
	}
	uitest.Screenshot(ctx, t, shots, "1-live-map")

	// Points are container pixels, from the map's centre (where the car is:
	// drawing keeps away from it, as a click there picks the car).
	var box struct{ X, Y, W, H float64 }
	eval(`(() => { const c = fmMaps[0].getContainer(), r = c.getBoundingClientRect();
		return {X: r.left + c.clientLeft, Y: r.top + c.clientTop, W: c.clientWidth, H: c.clientHeight} })()`, &box)
	type px struct{ x, y float64 }
	at := func(dx, dy float64) px { return px{math.Round(box.W/2 + dx), math.Round(box.H/2 + dy)} }
	// latLng is the map's own reading of a pixel, in the map's datum.
	latLng := func(p px) alerts.Point {
		var ll [2]float64
		eval(fmt.Sprintf(`(() => { const ll = fmMaps[0].containerPointToLatLng([%g, %g]); return [ll.lat, ll.lng] })()`, p.x, p.y), &ll)
		return alerts.Point{Lat: ll[0], Lon: ll[1]}
	}
	click := func(p px) {
		x, y := box.X+p.x, box.Y+p.y
		do(chromedp.MouseEvent(chromedp.MouseMoved, x, y), chromedp.MouseClickXY(x, y))
	}
	dialogOpen := `document.querySelector('#fence-dialog').open`
	drawPolygon := func(pts ...px) {
		do(chromedp.Click(chromedp.CSS(".leaflet-pm-icon-polygon")))
		for _, p := range pts {
			click(p)
		}
		click(pts[0]) // the first vertex again closes the ring
		poll("the fence form", dialogOpen)
	}
	choose := func(name, option string) {
		got := str(fmt.Sprintf(`(() => { const s = document.querySelector('#fence-dialog select[name=%s]');
			const o = [...s.options].find(o => o.value === %q || o.text === %q);
			if (o) { s.value = o.value; s.dispatchEvent(new Event('change')); }
			return o ? o.text : '' })()`, name, option, option))
		if got == "" {
			t.Fatalf("the fence form offers no %s %q", name, option)
		}
	}
	fill := func(name, kind, category, unitPath string) {
		do(chromedp.Click(chromedp.CSS(`#fence-dialog input[name=name]`)), uitest.InsertText(name))
		choose("kind", kind)
		categoryShown := `!document.querySelector('#fence-dialog select[name=category]').closest('p').hidden`
		if category != "" {
			poll("the place category asked", categoryShown)
			choose("category", category)
		} else {
			var shown bool
			eval(categoryShown, &shown)
			if shown {
				t.Errorf("the fence form asks a place category for a %s fence", kind)
			}
		}
		choose("unit", unitPath)
	}
	save := func() {
		do(chromedp.Click(chromedp.CSS(`#fence-dialog button[value=save]`)))
	}
	// where checks a stored point against the pixel's position as the map
	// showed it: the same on a WGS-84 map; on a GCJ-02 map, the WGS-84
	// position whose GCJ-02 is the one shown, a few hundred metres away.
	where := func(what string, stored, shown alerts.Point) {
		t.Helper()
		if !gcj {
			if d := alerts.DistanceM(stored.Lat, stored.Lon, shown.Lat, shown.Lon); d > 2 {
				t.Errorf("%s stored at %v, %.1f m from the %v drawn", what, stored, d, shown)
			}
			return
		}
		gLat, gLon := gcjFromWGS(stored.Lat, stored.Lon)
		if d := alerts.DistanceM(gLat, gLon, shown.Lat, shown.Lon); d > 2 {
			t.Errorf("%s stored at %v, whose GCJ-02 is %.1f m from the %v drawn", what, stored, d, shown)
		}
		if d := alerts.DistanceM(stored.Lat, stored.Lon, shown.Lat, shown.Lon); d < 200 || d > 1000 {
			t.Errorf("%s stored at %v, %.0f m from the GCJ-02 %v drawn: not shifted back to WGS-84", what, stored, d, shown)
		}
	}
	// drawnIn waits until the screenshot shows colour (a fence kind's) within
	// a few pixels of p: the fence drawn again from what the server keeps.
	drawnIn := func(what string, p px, color [3]int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatal(err)
			}
			if nearColor(img, int(box.X+p.x), int(box.Y+p.y), 4, color) {
				return
			}
			if time.Now().After(deadline) {
				uitest.Screenshot(ctx, t, shots, "failed")
				t.Fatalf("%s not drawn on the map at %v", what, p)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Every message the page shows is kept in fmToasts, so that a wait for
	// one is not met by the one before.
	str(`(() => { const el = document.querySelector('#toast'); window.fmToasts = [];
		new MutationObserver(() => fmToasts.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
		return '' })()`)
	var toasts int
	toast := func(what, cond string) {
		t.Helper()
		poll(what, fmt.Sprintf(`fmToasts.length > %d && (m => %s)(fmToasts.at(-1))`, toasts, cond))
		var n int
		eval(`fmToasts.length`, &n)
		toasts = n
	}

	// A polygon, 禁入区域, for 阳新县 (not the first unit offered).
	poly := []px{at(-220, -160), at(-60, -190), at(-40, -40), at(-240, -60)}
	drawPolygon(poly...)
	var shownPoly []alerts.Point
	for _, p := range poly {
		shownPoly = append(shownPoly, latLng(p))
	}
	fill("黄石港区禁入区", "prohibited", "", "湖北省/黄石市/阳新县")
	uitest.Screenshot(ctx, t, shots, "2-polygon-form")
	save()
	toast("the polygon saved", `m === '围栏已保存'`)
	f := byName("黄石港区禁入区")
	if f.Kind != "prohibited" || f.UnitID != unitID["湖北省/黄石市/阳新县"] || f.Shape.Type != "polygon" || len(f.Shape.Polygons) != 1 || len(f.Shape.Polygons[0]) != 1 {
		t.Fatalf("polygon stored as %+v, want a prohibited polygon of 阳新县 (%d)", f, unitID["湖北省/黄石市/阳新县"])
	}
	ring := f.Shape.Polygons[0][0]
	if len(ring) == len(poly)+1 && ring[len(ring)-1] == ring[0] {
		ring = ring[:len(poly)]
	}
	if len(ring) != len(poly) {
		t.Fatalf("polygon stored with %d vertices %v, %d drawn", len(ring), ring, len(poly))
	}
	for i := range poly {
		where(fmt.Sprintf("vertex %d", i+1), ring[i], shownPoly[i])
	}
	mid := px{(poly[0].x + poly[1].x) / 2, (poly[0].y + poly[1].y) / 2}
	drawnIn("the polygon's edge", mid, [3]int{0xd9, 0x30, 0x25})
	uitest.Screenshot(ctx, t, shots, "3-polygon-saved")

	// A circle, 敏感区域 (a hotel), for the first unit offered.
	centre, edge := at(170, 60), at(260, 60)
	do(chromedp.Click(chromedp.CSS(".leaflet-pm-icon-circle")))
	click(centre)
	click(edge)
	poll("the fence form", dialogOpen)
	shownCentre, shownEdge := latLng(centre), latLng(edge)
	var radius float64
	eval(fmt.Sprintf(`fmMaps[0].distance([%g, %g], [%g, %g])`, shownCentre.Lat, shownCentre.Lon, shownEdge.Lat, shownEdge.Lon), &radius)
	firstUnit := str(`document.querySelector('#fence-dialog select[name=unit]').options[0].text`)
	fill("磁湖宾馆", "sensitive", "hotel", firstUnit)
	save()
	toast("the circle saved", `m === '围栏已保存'`)
	f = byName("磁湖宾馆")
	if f.Kind != "sensitive" || f.Category != "hotel" || f.UnitID != unitID[firstUnit] || f.Shape.Type != "circle" {
		t.Fatalf("circle stored as %+v, want a sensitive hotel circle of %s (%d)", f, firstUnit, unitID[firstUnit])
	}
	where("the circle's centre", f.Shape.Center, shownCentre)
	if math.Abs(f.Shape.RadiusM-radius) > 2 {
		t.Errorf("circle stored with radius %.1f m, drawn %.1f m", f.Shape.RadiusM, radius)
	}
	// The circle's west edge, opposite where the radius was clicked.
	drawnIn("the circle's edge", px{2*centre.x - edge.x, centre.y}, [3]int{0xf0, 0x8c, 0x00})
	drawnIn("the polygon, still", mid, [3]int{0xd9, 0x30, 0x25})
	uitest.Screenshot(ctx, t, shots, "4-circle-saved")

	// A shape drawn and its form left with Escape is not saved, though the
	// form was last closed by saving.
	drawPolygon(at(-220, 80), at(-80, 80), at(-150, 200))
	do(chromedp.KeyEvent(kb.Escape))
	poll("the form closed and the shape gone", `!(`+dialogOpen+`) && fmMaps[0].pm.getGeomanDrawLayers().length === 0`)
	var shown []string
	eval(fmt.Sprintf(`fmToasts.slice(%d)`, toasts), &shown)
	if len(shown) > 0 {
		t.Errorf("leaving the form with Escape, the page showed %q", shown)
	}
	if n := len(fences()); n != 2 {
		t.Errorf("%d fences stored after a shape was left with Escape, want 2: %+v", n, fences())
	}

	if !gcj {
		// The page offers the supervisor only 黄石市's units; one that offers
		// 武汉市 (a forged form) gets an error, and nothing is stored.
		drawPolygon(at(-220, 80), at(-80, 80), at(-150, 200))
		str(fmt.Sprintf(`(() => { document.querySelector('#fence-dialog select[name=unit]').append(new Option('湖北省/武汉市', '%d')); return '' })()`,
			unitID["湖北省/武汉市"]))
		fill("越权围栏", "permitted", "", "湖北省/武汉市")
		save()
		toast("an error shown", `m.startsWith('出错')`)
		uitest.Screenshot(ctx, t, shots, "5-out-of-jurisdiction")
		if n := len(fences()); n != 2 {
			t.Errorf("%d fences stored after one for 武汉市, want 2: %+v", n, fences())
		}
		// The shape is not lost: the form is open again as it was, and
		// with the supervisor's own unit it saves.
		poll("the form open again", dialogOpen+` && document.querySelector('#fence-dialog input[name=name]').value === '越权围栏'`)
		choose("unit", unit)
		save()
		toast("the corrected fence saved", `m === '围栏已保存'`)
		if f := byName("越权围栏"); f.Kind != "permitted" || f.UnitID != unitID[unit] || f.Shape.Type != "polygon" {
			t.Errorf("the corrected fence stored as %+v, want a permitted polygon of %s", f, unit)
		}
	}
	uitest.Screenshot(ctx, t, shots, "6-done")
}

// nearColor says whether img has a pixel within r of (x, y) close to c.
func nearColor(img image.Image, x, y, r int, c [3]int) bool {
	for j := y - r; j <= y+r; j++ {
		for i := x - r; i <= x+r; i++ {
			cr, cg, cb, _ := img.At(i, j).RGBA()
			dr, dg, db := int(cr>>8)-c[0], int(cg>>8)-c[1], int(cb>>8)-c[2]
			if dr*dr+dg*dg+db*db < 40*40 {
				return true
			}
		}
	}
	return false
}
