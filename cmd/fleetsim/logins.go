package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runLogins sends a storm of logins with random names at a server and
// measures what it does to it: /healthz latency during the storm and,
// given fleetd's pid on this machine, its resident memory.
func runLogins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logins", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: fleetsim logins --url URL [--logins N] [--sources N] [--pid PID]

Sends N logins at once, each with a random name and password, from --sources loopback addresses
(127.0.x.y, round robin; the server must listen on loopback for more than one), while probing
/healthz every 20 ms; prints the answers by status, the /healthz latencies during the storm and,
with --pid, the peak resident memory of that process (sampled VmRSS, and VmHWM).

`)
		fs.PrintDefaults()
	}
	base := fs.String("url", "http://127.0.0.1:8080", "the server's HTTP base URL")
	n := fs.Int("logins", 200, "concurrent logins")
	sources := fs.Int("sources", 1, "loopback source addresses to spread the logins over")
	pid := fs.Int("pid", 0, "fleetd's process id, to sample its memory (0: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *sources < 1 || *sources > 65000 {
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var samplers sync.WaitGroup
	var health []time.Duration
	var healthErrs int
	samplers.Add(1)
	go func() {
		defer samplers.Done()
		hc := &http.Client{Timeout: 10 * time.Second}
		for ctx.Err() == nil {
			t0 := time.Now()
			resp, err := hc.Get(*base + "/healthz")
			d := time.Since(t0)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				healthErrs++
			}
			health = append(health, d)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var peakRSS int64
	if *pid > 0 {
		samplers.Add(1)
		go func() {
			defer samplers.Done()
			for ctx.Err() == nil {
				peakRSS = max(peakRSS, procStatusKiB(*pid, "VmRSS"))
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	var mu sync.Mutex
	byStatus := map[string]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := net.IPv4(127, 0, byte(1+i%*sources/250), byte(1+i%*sources%250))
			if *sources == 1 {
				ip = net.IPv4(127, 0, 0, 1)
			}
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
			hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext}}
			body := fmt.Sprintf(`{"name":"storm%016x","password":"%016x"}`, rand.Uint64(), rand.Uint64())
			<-start
			status := "error"
			resp, err := hc.Post(*base+"/api/v1/login", "application/json", strings.NewReader(body))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = strconv.Itoa(resp.StatusCode)
			}
			mu.Lock()
			byStatus[status]++
			mu.Unlock()
		}()
	}
	time.Sleep(200 * time.Millisecond) // a few /healthz before the storm
	t0 := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t0)
	time.Sleep(200 * time.Millisecond)
	cancel()
	samplers.Wait()

	statuses := make([]string, 0, len(byStatus))
	for s := range byStatus {
		statuses = append(statuses, s)
	}
	slices.Sort(statuses)
	fmt.Fprintf(stdout, "logins: %d from %d address(es) in %v\n", *n, *sources, took.Round(time.Millisecond))
	for _, s := range statuses {
		fmt.Fprintf(stdout, "  %s: %d\n", s, byStatus[s])
	}
	slices.Sort(health)
	if len(health) > 0 {
		q := func(p float64) time.Duration {
			return health[int(p*float64(len(health)-1))].Round(100 * time.Microsecond)
		}
		fmt.Fprintf(stdout, "/healthz: %d probes, %d failed; p50 %v, p99 %v, max %v\n", len(health), healthErrs, q(0.5), q(0.99), health[len(health)-1].Round(100*time.Microsecond))
	}
	if *pid > 0 {
		fmt.Fprintf(stdout, "fleetd (pid %d): peak VmRSS sampled %.0f MiB, VmHWM %.0f MiB\n", *pid, float64(peakRSS)/1024, float64(procStatusKiB(*pid, "VmHWM"))/1024)
	}
	return nil
}

// procStatusKiB reads a kB field of /proc/PID/status (0 if unreadable).
func procStatusKiB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
