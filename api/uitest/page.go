package uitest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Page is a test's tab with the steps every UI test takes, each failing
// the test with a screenshot (failed.png), what the page shows and
// Detail() (the server's log, say).
type Page struct {
	Ctx    context.Context
	T      testing.TB
	Shots  string        // the artifact directory (ArtifactDir)
	Detail func() string // more to say on failure; may be nil
}

func (p *Page) fail(format string, args ...any) {
	p.T.Helper()
	Screenshot(p.Ctx, p.T, p.Shots, "failed")
	text, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.body.innerText`))
	detail := ""
	if p.Detail != nil {
		detail = p.Detail()
	}
	args = append(args, text, detail)
	p.T.Fatalf(format+"; the page shows:\n%s\n%s", args...)
}

// Poll waits (30 s at most) until the JavaScript expression cond is true.
func (p *Page) Poll(what, cond string) {
	p.T.Helper()
	if _, err := chromedp.Run(p.Ctx, chromedp.Poll[any](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		p.fail("%s: %v (%s)", what, err, cond)
	}
}

// Do runs steps.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, steps...); err != nil {
		p.fail("%v", err)
	}
}

// Eval evaluates js and decodes its JSON value into v.
func (p *Page) Eval(js string, v any) {
	p.T.Helper()
	got, err := chromedp.Run(p.Ctx, chromedp.Evaluate[json.RawMessage](js))
	if err == nil {
		err = json.Unmarshal(got, v)
	}
	if err != nil {
		p.fail("%s: %v", js, err)
	}
}

// String evaluates js to a string.
func (p *Page) String(js string) string {
	p.T.Helper()
	var s string
	p.Eval(js, &s)
	return s
}

// InsertText types text into the focused element as an input method
// commits it (Chinese plates and reasons).
func InsertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// DownloadTo lets the tab download into dir, under the names the server
// gives.
func DownloadTo(dir string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	})
}

// WaitDownloads waits (a minute at most) until dir holds a finished file
// with each of exts (without the dot) and returns their paths in that
// order.
func WaitDownloads(t testing.TB, dir string, exts []string) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out := make([]string, len(exts))
		missing := false
		entries, _ := os.ReadDir(dir)
		for i, ext := range exts {
			for _, e := range entries {
				if filepath.Ext(e.Name()) == "."+ext {
					out[i] = filepath.Join(dir, e.Name())
				}
			}
			missing = missing || out[i] == ""
		}
		if !missing {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("uitest: downloads in %s: %v, want one of each of %v", dir, entries, exts)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keepMapsJS runs in every document before the page's scripts: whenever
// Leaflet is made the global L (as the UI's leaflet.js does, for its
// plugins), it hooks map creation to push each map onto window.fmMaps.
const keepMapsJS = `(() => {
  let l;
  Object.defineProperty(window, "L", { configurable: true, enumerable: true,
    get() { return l; },
    set(v) {
      l = v;
      if (v && v.Map && !v.__fmKept) {
        v.__fmKept = true;
        v.Map.addInitHook(function () { (window.fmMaps = window.fmMaps || []).push(this); });
      }
    } });
})();`

// KeepMaps makes the tab keep the Leaflet maps the pages it loads from now
// on make, in window.fmMaps, so that a test can ask a map what it shows
// (containerPointToLatLng, getZoom): to observe the page, never to drive
// it.
func KeepMaps() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: keepMapsJS})
		return err
	})
}

// Follow clicks the link sel and waits until the element ready is visible
// on the page it opens. A click can be lost while the page is still laying
// itself out (the link moved, or a notice covered it, between finding it
// and clicking): each attempt is bounded, and the click is tried again,
// three times in all, so that a lost click fails fast with a screenshot
// instead of waiting out the whole test's deadline.
func (p *Page) Follow(sel, ready string) {
	p.T.Helper()
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
		err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(ready)))
		cancel()
		if err == nil {
			return
		}
		at, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`location.pathname + " " + document.readyState`))
		p.T.Logf("uitest: %s clicked, %s not shown on %s (%v): again", sel, ready, at, err)
	}
	p.fail("follow %s to %s: %v", sel, ready, err)
}
