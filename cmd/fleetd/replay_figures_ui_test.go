package main

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetmon/api/uitest"
	"fleetmon/cmd/fleetsim/sim"
)

// straightDrive is a car parked five minutes, driving 20 reports due east
// at 40 km/h (one of them 46.9 km/h, on the same straight line: the map's
// simplified track has no reason to keep it) and parked again. Standing,
// the terminal reports once a minute: the first moving report is a minute
// after the last standing one, 600 m on.
func straightDrive(from time.Time, lat, lon float64) []sim.Point {
	east := func(m float64) float64 { return lon + m/(111320*math.Cos(lat*math.Pi/180)) }
	var pts []sim.Point
	add := func(at time.Time, m, kmh float64, acc bool) {
		pts = append(pts, sim.Point{Time: at, Lat: lat, Lon: east(m), SpeedKmh: kmh, Heading: 90, ACC: acc, Positioned: true})
	}
	at := from
	for range 5 {
		add(at, 0, 0, false)
		at = at.Add(time.Minute)
	}
	m := 600.0
	for i := range 20 {
		kmh := 40.0
		if i == 12 {
			kmh = 46.9
		}
		add(at, m, kmh, true)
		at, m = at.Add(10*time.Second), m+4000.0/36
	}
	for range 6 {
		add(at, m, 0, false)
		at = at.Add(time.Minute)
	}
	return pts
}

// TestReplayFiguresInBrowser: what the replay page shows of a drive is
// true to it. Before anything is loaded the clock shows no date (not
// 1970-01-01); the speed legend's swatches are coloured (by CSS classes
// the page's CSP allows, not inline styles it refuses); the speed chart
// reaches the drive's 46.9 km/h maximum within a pixel; no trip averages
// more than its maximum; no duration is written as Go writes it ("2m0s");
// the plate label on the map has a background and text legible on it.
// Then the period's CSV export, verified after more reports arrived, is
// intact with them listed apart, and an edited speed is named with its
// stored and file values.
func TestReplayFiguresInBrowser(t *testing.T) {
	ctx := uitest.Browser(t, 4*time.Minute)
	shots := uitest.ArtifactDir(t)
	db, otp, token := seedFleet(t, "plate,plate_color,terminal_phone,unit,category\n"+
		"鄂B12345,1,13900000001,湖北省/黄石市,general\n"+
		"鄂B54321,1,13900000002,湖北省/黄石市,general\n", "jw_inspector", "inspector", "湖北省/黄石市")
	srv := startServe(t, "--db", db, "--data-dir", t.TempDir())
	base := "http://" + srv.HTTP
	day := time.Date(2026, 11, 21, 9, 0, 0, 0, cstZone)
	sendTrack(t, srv.JT808, "13900000001", "鄂B12345", straightDrive(day, 30.2, 115.04), func(int) bool { return false })
	sendTrack(t, srv.JT808, "13900000002", "鄂B54321", straightDrive(day.Add(3*time.Minute), 30.21, 115.04), func(int) bool { return false })

	pg := &uitest.Page{Ctx: ctx, T: t, Shots: shots, Detail: func() string { return "fleetd:\n" + srv.Stderr.String() }}
	uitest.Login(ctx, t, base, "jw_inspector", otp, "Inspector-Jiwei-2026!")
	var ids []int64
	for _, plate := range []string{"鄂B12345", "鄂B54321"} {
		var page struct {
			Items []struct {
				ID int64 `json:"id"`
			} `json:"items"`
		}
		apiGet(t, base, token, "/api/v1/vehicles?plate="+url.QueryEscape(plate), &page)
		if len(page.Items) != 1 {
			t.Fatalf("%s: %+v", plate, page)
		}
		ids = append(ids, page.Items[0].ID)
	}
	pg.Do(chromedp.Navigate(fmt.Sprintf("%s/ui/replay.html?vehicle=%d&vehicle=%d&from=%s&to=%s", base, ids[0], ids[1],
		url.QueryEscape(day.Add(-time.Hour).Format(time.RFC3339)), url.QueryEscape(day.Add(time.Hour).Format(time.RFC3339)))),
		chromedp.WaitVisible(chromedp.CSS("#v-search")))
	pg.Poll("both cars chosen", `document.querySelectorAll('#v-chosen li').length === 2 && document.querySelector('.leaflet-tile-pane') !== null`)

	// Nothing loaded: no time on the clock.
	if c := pg.String(`document.querySelector('#clock').textContent`); c != "—" {
		t.Errorf("the clock before anything is loaded reads %q, want —", c)
	}
	// The legend's swatches are coloured.
	var swatches []string
	pg.Eval(`[...document.querySelectorAll('#legend-speed i')].map(i => getComputedStyle(i).backgroundColor)`, &swatches)
	if len(swatches) != 6 {
		t.Errorf("%d swatches in the speed legend, want 6", len(swatches))
	}
	for i, c := range swatches {
		if c == "rgba(0, 0, 0, 0)" || c == "transparent" {
			t.Errorf("speed legend swatch %d is blank (%s)", i, c)
		}
	}
	uitest.Screenshot(ctx, t, shots, "1-before-loading")

	pg.Do(chromedp.Click(chromedp.CSS("#reason")), uitest.InsertText("核查车速"), chromedp.Click(chromedp.CSS("#go")))
	pg.Poll("the replay shown", `document.querySelectorAll('#trips tr[data-start]').length === 1 && document.querySelector('#chart canvas') !== null`)
	uitest.Screenshot(ctx, t, shots, "2-loaded")

	// The trip: its average no more than its maximum, 46.9 km/h.
	var trip []string
	pg.Eval(`[...document.querySelectorAll('#trips tr[data-start] td')].map(td => td.textContent)`, &trip)
	var maxKmh, avgKmh float64
	if len(trip) < 6 {
		t.Fatalf("trip row: %q", trip)
	}
	fmt.Sscan(trip[4], &maxKmh)
	fmt.Sscan(trip[5], &avgKmh)
	if maxKmh != 46.9 || avgKmh > maxKmh {
		t.Errorf("trip shown with maximum %q and average %q, want a maximum of 46.9 and an average no higher", trip[4], trip[5])
	}

	// No duration as Go writes it, anywhere on the page (tables, tooltips).
	if s := pg.String(`document.body.innerText + [...document.querySelectorAll('[title]')].map(e => e.title).join(' ')`); regexp.MustCompile(`\d+m\d+s`).MatchString(s) {
		t.Errorf("a duration written as Go does: %q", regexp.MustCompile(`\d+m\d+s`).FindString(s))
	}

	// The chart's highest point of the first car's line is at 46.9 km/h,
	// within a pixel: the y axis runs from 0 to 60.
	var drawn struct{ Top, Want, Height float64 }
	pg.Eval(`(() => {
		const cv = document.querySelector('#chart canvas'), over = document.querySelector('#chart .u-over');
		const k = cv.width / cv.getBoundingClientRect().width;
		const img = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
		let top = Infinity;
		for (let y = 0; y < cv.height && top === Infinity; y++) for (let x = 0; x < cv.width; x++) {
			const i = (y * cv.width + x) * 4;
			if (img[i + 3] > 200 && Math.abs(img[i] - 0x16) < 24 && Math.abs(img[i + 1] - 0x36) < 24 && Math.abs(img[i + 2] - 0x5f) < 24) { top = y / k; break; }
		}
		const o = over.getBoundingClientRect(), c = cv.getBoundingClientRect();
		return {Top: top, Want: o.top - c.top + (1 - 46.9 / 60) * o.height, Height: o.height};
	})()`, &drawn)
	// The line's centre is half its 1.5 px stroke below its top edge;
	// uPlot aligns it to the pixel grid, and antialiasing may colour the
	// row above: a pixel and a half either way. A peak drawn at 40 km/h
	// is 11 px lower.
	if centre := drawn.Top + 0.75; math.IsInf(drawn.Top, 0) || math.Abs(centre-drawn.Want) > 1.5 {
		t.Errorf("the chart's line tops out at y=%.1f px, 46.9 km/h is at y=%.1f (plot %.0f px high): the peak is not drawn where it was", centre, drawn.Want, drawn.Height)
	}

	// The plate labels: a background, and text legible on it (WCAG AA,
	// 4.5:1).
	var labels []struct{ Plate, Bg, Fg string }
	pg.Eval(`[...document.querySelectorAll('.rp-plate')].map(e => ({Plate: e.textContent, Bg: getComputedStyle(e).backgroundColor, Fg: getComputedStyle(e).color}))`, &labels)
	if len(labels) != 2 {
		t.Fatalf("plate labels: %+v", labels)
	}
	for _, l := range labels {
		if r := contrast(l.Bg, l.Fg); r < 4.5 {
			t.Errorf("plate label %s: %s on %s, contrast %.1f:1", l.Plate, l.Fg, l.Bg, r)
		}
	}
	uitest.Screenshot(ctx, t, shots, "3-figures")

	// The CSV export, taken while the period is still running: three more
	// reports of the period arrive after it. On the verify page it is
	// intact, the three listed as received after the export; a speed
	// edited in the file is named with both values.
	dl := t.TempDir()
	pg.Do(uitest.DownloadTo(dl), chromedp.Click(chromedp.CSS(`a.export[data-format="csv"]`)))
	csvPath := uitest.WaitDownloads(t, dl, []string{"csv"})[0]
	var later []sim.Point
	for i := range 3 {
		later = append(later, sim.Point{Time: day.Add(30*time.Minute + time.Duration(i)*time.Minute), Lat: 30.2, Lon: 115.07, Positioned: true})
	}
	sendTrack(t, srv.JT808, "13900000001", "鄂B12345", later, func(int) bool { return false })
	pg.Do(chromedp.Navigate(base+"/ui/verify.html"), chromedp.WaitVisible(chromedp.CSS("#file")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{csvPath}),
		chromedp.Click(chromedp.CSS("#reason")), uitest.InsertText("核验导出"), chromedp.Click(chromedp.CSS("#go")))
	pg.Poll("intact, three received after the export", `document.querySelector('#verdict').dataset.intact === 'true' &&
		document.querySelectorAll('#received-after tr[data-what=received_after]').length === 3 && document.querySelector('#notes li[data-note=after]') !== null`)
	uitest.Screenshot(ctx, t, shots, "4-verify-received-after")
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(t.TempDir(), "edited.csv")
	if !strings.Contains(string(b), ",46.9,") {
		t.Fatalf("the export does not write 46.9:\n%s", b)
	}
	if err := os.WriteFile(edited, []byte(strings.Replace(string(b), ",46.9,", ",49.6,", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	pg.Do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{edited}), chromedp.Click(chromedp.CSS("#go")))
	pg.Poll("the edited speed named with both values", `document.querySelector('#verdict').dataset.intact === 'false' &&
		document.querySelector('#differences tr[data-what=file_altered]')?.textContent.includes('速度：存储 46.9，文件 49.6')`)
	uitest.Screenshot(ctx, t, shots, "5-verify-edited")
}

// contrast is the WCAG contrast ratio of two computed CSS colours
// (rgb(...) or rgba(...)); a transparent background counts as the map's
// near-white.
func contrast(bg, fg string) float64 {
	lum := func(c string) float64 {
		var r, g, b, a float64 = 0, 0, 0, 1
		if n, _ := fmt.Sscanf(c, "rgba(%g, %g, %g, %g)", &r, &g, &b, &a); n != 4 {
			fmt.Sscanf(c, "rgb(%g, %g, %g)", &r, &g, &b)
		}
		if a < 0.5 {
			r, g, b = 242, 239, 233 // a light map under a transparent label
		}
		ch := func(v float64) float64 {
			v /= 255
			if v <= 0.03928 {
				return v / 12.92
			}
			return math.Pow((v+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(b)
	}
	l1, l2 := lum(bg), lum(fg)
	return (math.Max(l1, l2) + 0.05) / (math.Min(l1, l2) + 0.05)
}
