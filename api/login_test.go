package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// loginFrom posts a login from the loopback address ip (any of 127/8 is
// this machine), so that a test can play several clients; safe to call
// from several goroutines.
func loginFrom(f *fixture, ip, name, password string) (int, string, http.Header, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer hc.CloseIdleConnections()
	body := fmt.Sprintf(`{"name":%q,"password":%q}`, name, password)
	resp, err := hc.Post(f.ts.URL+"/api/v1/login", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// parallelLogins sends n logins at once, the i-th as try(i) says, and
// counts the answers by status.
func parallelLogins(t *testing.T, f *fixture, n int, try func(i int) (ip, name, password string)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip, name, pw := try(i)
			<-start
			code, body, _, err := loginFrom(f, ip, name, pw)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code == http.StatusInternalServerError {
				t.Errorf("login %d: %d %s %v", i, code, body, err)
			}
			got[code]++
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// TestLoginRaceCountsEveryAttempt sends 24 wrong passwords for one name
// from one address at once: the throttle counts them one by one, so no
// more are checked than it lets through one after another (two, before the
// 1 s back-off), and the rest are answered 429.
func TestLoginRaceCountsEveryAttempt(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("clerk", RoleSupervisor, "湖北省/黄石市")
	got := parallelLogins(t, f, 24, func(i int) (string, string, string) {
		return "127.0.0.1", "clerk", fmt.Sprintf("wrong password %d", i)
	})
	if got[401] > 2 || got[401]+got[429] != 24 {
		t.Errorf("24 parallel wrong passwords answered %v, want at most 2 × 401 and the rest 429", got)
	}
	// The same for a name that does not exist.
	got = parallelLogins(t, f, 24, func(i int) (string, string, string) {
		return "127.0.0.1", "nobody", fmt.Sprintf("wrong password %d", i)
	})
	if got[401] > 2 || got[401]+got[429] != 24 {
		t.Errorf("24 parallel logins as an unknown name answered %v, want at most 2 × 401 and the rest 429", got)
	}
}

// TestLoginSprayingIsSlowed tries one password on 40 names from one
// address: after the address's allowance the rest wait.
func TestLoginSprayingIsSlowed(t *testing.T) {
	f := newFixture(t, nil)
	limited := 0
	for i := range 40 {
		code, body, h, err := loginFrom(f, "127.0.0.7", fmt.Sprintf("user%02d", i), "Summer2026!")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case code == 429 && errorCode(body) == "too_many_attempts" && h.Get("Retry-After") != "":
			limited++
		case code != 401:
			t.Fatalf("name %d: %d %s", i, code, body)
		}
	}
	if limited < 40-f.srv.cfg.AddrBurst {
		t.Errorf("40 names from one address: %d answered 429, want at least %d", limited, 40-f.srv.cfg.AddrBurst)
	}
	// Another address is not held back by it.
	if code, body, _, _ := loginFrom(f, "127.0.0.8", "user00", "Summer2026!"); code != 401 {
		t.Errorf("another address: %d %s, want 401", code, body)
	}
	// The address gets one more try per AddrLeak.
	f.clock.Advance(f.srv.cfg.AddrLeak)
	if code, body, _, _ := loginFrom(f, "127.0.0.7", "user40", "Summer2026!"); code != 401 {
		t.Errorf("after %v: %d %s, want 401", f.srv.cfg.AddrLeak, code, body)
	}
	if code, _, _, _ := loginFrom(f, "127.0.0.7", "user41", "Summer2026!"); code != 429 {
		t.Errorf("the next at once: %d, want 429", code)
	}
}

// TestLoginOwnerNotLockedOut has attackers hammer a name while its owner
// logs in from elsewhere: an attacker locks only their own address; many
// addresses together slow strangers down, but not an address the owner
// has logged in from.
func TestLoginOwnerNotLockedOut(t *testing.T) {
	f := newFixture(t, nil)
	owner := f.addUser("clerk", RoleSupervisor, "湖北省/黄石市")
	const attacker = "127.0.0.66"
	for i := range 30 {
		code, body, _, err := loginFrom(f, attacker, "clerk", fmt.Sprintf("guess %d", i))
		if err != nil || code != 401 && code != 429 {
			t.Fatalf("guess %d: %d %s %v", i, code, body, err)
		}
		f.clock.Advance(10 * time.Second)
	}
	if code, _, _, _ := loginFrom(f, attacker, "clerk", owner.password); code != 429 {
		t.Errorf("the attacker's address, with the right password: %d, want 429 (locked)", code)
	}
	if code, body, _, _ := loginFrom(f, "127.0.0.5", "clerk", owner.password); code != 200 {
		t.Fatalf("the owner from another address, during the attack: %d %s", code, body)
	}

	// A distributed attack: one guess from each of many addresses. The
	// name's allowance runs out: a new address waits, the owner's known
	// address (127.0.0.5, just used) does not.
	for i := range f.srv.cfg.NameBurst + 5 {
		if code, body, _, err := loginFrom(f, fmt.Sprintf("127.0.1.%d", i+1), "clerk", "guess"); err != nil || code != 401 && code != 429 {
			t.Fatalf("distributed guess %d: %d %s %v", i, code, body, err)
		}
	}
	if code, body, h, _ := loginFrom(f, "127.0.2.1", "clerk", owner.password); code != 429 || h.Get("Retry-After") == "" {
		t.Errorf("a new address during a distributed attack: %d %s, want 429 with Retry-After", code, body)
	}
	if code, body, _, _ := loginFrom(f, "127.0.0.5", "clerk", owner.password); code != 200 {
		t.Errorf("the owner's address during a distributed attack: %d %s", code, body)
	}
	// It slows, it does not lock: once the attack stops, the name's bucket
	// drains and anyone may try again.
	f.clock.Advance(time.Duration(f.srv.cfg.NameBurst) * f.srv.cfg.NameLeak)
	if code, body, _, _ := loginFrom(f, "127.0.2.1", "clerk", owner.password); code != 200 {
		t.Errorf("a new address after the attack: %d %s", code, body)
	}
}

// TestLoginHashingBounded sends 12 logins at once, each from its own
// address (no throttle applies), with the argon2id cost fleetd ships: no
// more hashes run at once than the pool has slots, and the logins beyond
// what it serves in time get 503 with Retry-After.
func TestLoginHashingBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.KDF = DefaultKDF })
	h := f.srv.acct.hash
	got := parallelLogins(t, f, 12, func(i int) (string, string, string) {
		return fmt.Sprintf("127.0.3.%d", i+1), fmt.Sprintf("storm%d", i), "Winter2026!"
	})
	if got[401]+got[503] != 12 || got[401] == 0 {
		t.Errorf("12 logins answered %v, want 401 or 503", got)
	}
	if p := h.peak.Load(); p > DefaultHashConcurrency || p < 1 {
		t.Errorf("%d hashes ran at once, the pool has %d slots", p, DefaultHashConcurrency)
	}

	// Every slot taken (by this test): a login waits its while, then 503;
	// the attempt is not counted against the name.
	for range DefaultHashConcurrency {
		h.slots <- struct{}{}
	}
	code, body, hdr, err := loginFrom(f, "127.0.4.1", "storm0", "Winter2026!")
	if err != nil || code != 503 || errorCode(body) != "busy" || hdr.Get("Retry-After") == "" {
		t.Fatalf("a login with every hashing slot taken: %d %s %v %v", code, body, hdr, err)
	}
	for range DefaultHashConcurrency {
		<-h.slots
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), "SELECT failures FROM login_pairs WHERE name = 'storm0' AND addr = '127.0.4.1'").Scan(&n); err != nil || n != 0 {
		t.Errorf("failures counted for logins never checked: %d %v", n, err)
	}
	if code, body, _, _ := loginFrom(f, "127.0.4.1", "storm0", "Winter2026!"); code != 401 {
		t.Errorf("with the slots free again: %d %s", code, body)
	}
}

// TestAddrKey: IPv4 addresses are their own key; IPv6 ones share their /64,
// which one subscriber holds whole.
func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
