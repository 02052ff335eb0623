// Package uitest runs the web UI's tests in a real browser: Debian's
// Chromium, headless, driven over the DevTools protocol by chromedp.
//
// Without Chromium (scripts/deps.sh browser installs it) a test fails under
// CI (CI=true) and is skipped on a developer machine, like track/pgtest.
// FLEETMON_CHROMIUM names another binary. Screenshots go to
// test-artifacts/<TestName>/ at the top of the repository (git-ignored),
// and the test log says where.
//
// uitest is for tests only; nothing in fleetd imports it.
package uitest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser binary.
func chromium() (string, bool) {
	if p := os.Getenv("FLEETMON_CHROMIUM"); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// Browser starts a headless Chromium with a fresh profile for the test
// and returns a context for chromedp's actions on its first tab, ending
// with the test. timeout bounds the whole test's browsing.
func Browser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path, ok := chromium()
	if !ok {
		msg := "uitest: Chromium not found: install it with scripts/deps.sh browser (or set FLEETMON_CHROMIUM)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("mute-audio", true),
		// Sound may start without a user gesture: the page still asks for one,
		// and the tests click before an alert comes.
		chromedp.Flag("autoplay-policy", "user-gesture-required"),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The first run starts the browser, which lives as long as its
	// context: that one has no timeout; the actions after it do.
	if err := chromedp.Do(bctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("uitest: start %s: %v", path, err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// ArtifactDir is test-artifacts/<TestName> at the top of the repository,
// created and emptied.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("uitest: no go.mod above the working directory")
		}
		dir = parent
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	dir = filepath.Join(dir, "test-artifacts", name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("uitest: screenshots in %s", dir)
	return dir
}

// Screenshot saves the tab's viewport as dir/name.png.
func Screenshot(ctx context.Context, t testing.TB, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("uitest: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Login logs name in through fleetd's login page at base with a one-time
// password, sets newPassword when asked, and waits for the live map.
func Login(ctx context.Context, t testing.TB, base, name, otp, newPassword string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), otp),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#newpw")),
		chromedp.SendKeys(chromedp.CSS("#newpw"), newPassword),
		chromedp.SendKeys(chromedp.CSS("#newpw2"), newPassword),
		chromedp.Click(chromedp.CSS("#change button")),
		chromedp.WaitVisible(chromedp.CSS("#map")))
	if err != nil {
		t.Fatalf("uitest: log %s in: %v", name, err)
	}
}
