// Package mqtttest runs a real Mosquitto broker for a test, on a free
// loopback port, with its configuration, persistence and log in the test's
// temporary directory. Without Mosquitto installed a test fails under CI
// (CI=true) and is skipped on a developer machine, with a message saying how
// to install it (scripts/deps.sh mqtt).
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Broker is a running Mosquitto.
type Broker struct {
	// URL is the broker's address for paho, tcp://127.0.0.1:PORT.
	URL  string
	dir  string
	port int
	cmd  *exec.Cmd
	bin  string
	t    testing.TB
}

// Start starts a broker that lives until the test ends.
func Start(t testing.TB) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		msg := "mosquitto is not installed: run scripts/deps.sh mqtt"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	b := &Broker{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port), dir: t.TempDir(), port: port, t: t}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
# fleetd acknowledges a message only after its rows are committed: let many be in flight.
max_inflight_messages 1000
max_queued_messages 0
log_dest file %s
`, port, b.dir, filepath.Join(b.dir, "mosquitto.log"))
	if os.Geteuid() == 0 {
		// Mosquitto switches from root to the "mosquitto" user unless told
		// otherwise; that user cannot write the test's directory.
		conf += "user root\n"
	}
	if err := os.WriteFile(filepath.Join(b.dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	b.start(bin)
	t.Cleanup(b.Stop)
	return b
}

func (b *Broker) start(bin string) {
	b.t.Helper()
	b.bin = bin
	b.cmd = exec.Command(bin, "-c", filepath.Join(b.dir, "mosquitto.conf"))
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(b.port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
			b.t.Fatalf("mosquitto did not start: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the broker (it saves its persistent sessions first).
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	_ = b.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// Restart stops the broker and starts it again on the same port, with the
// sessions it saved: a broker briefly away.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start(b.bin)
}
