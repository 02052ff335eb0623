package main

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbSilentAfter is how long a host may take to answer a connection attempt
// before hostOrder counts it silent (other connections may be under way
// to it at the same moment: one that just started is not yet silent).
const dbSilentAfter = time.Second

// dbProbeEvery is how often a silent host is tried again, in the
// background.
const dbProbeEvery = time.Second

// hostOrder orders the hosts of a multi-host --db for each new connection:
// the one that last accepted writes first, then those not tried or that
// answered as standbys. A host that did not answer its last attempt
// (silent) is left out while another host answers, and is tried again in
// the background, every dbProbeEvery, until it answers. pgx tries the
// hosts in the order of the connection string, each for up to
// dbConnectTimeout; a primary that hangs (a frozen machine) still
// completes TCP handshakes from its kernel and then says nothing, so
// without this every new connection during and after a failover would
// first wait out that timeout on the old primary, and the writer's
// attempts would find the new primary seconds after its promotion rather
// than at the next back-off step.
type hostOrder struct {
	mu    sync.Mutex
	hosts map[string]*hostState // by host:port as written in --db
}

type hostState struct {
	// unanswered is the first dial since the host last answered (zero
	// when it has answered every dial): the host is silent once that is
	// over dbSilentAfter ago, however many dials followed.
	unanswered time.Time
	writable   bool      // whether that answer was accepted (a read-write server)
	probing    bool      // a background attempt is under way
	probed     time.Time // when the last one started
}

// install sets cfg's BeforeConnect so that each new connection of the pool
// tries the hosts in this order and reports back how each answered.
func (o *hostOrder) install(cfg *pgxpool.Config) {
	if len(cfg.ConnConfig.Fallbacks) == 0 {
		return
	}
	o.hosts = map[string]*hostState{}
	before := cfg.BeforeConnect
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		if before != nil {
			if err := before(ctx, cc); err != nil {
				return err
			}
		}
		o.prepare(&cc.Config)
		return nil
	}
}

// hostKey names a host of --db as its dials do: host:port, or a Unix
// socket's path.
func hostKey(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		_, addr := pgconn.NetworkAddress(host, port)
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// prepare orders one connection attempt's hosts, leaving out silent ones
// (probed instead), and wraps its lookup, dial and validation to learn how
// each host answers.
func (o *hostOrder) prepare(cc *pgconn.Config) {
	all := append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port, TLSConfig: cc.TLSConfig}}, cc.Fallbacks...)
	now := time.Now()
	o.mu.Lock()
	rank := func(fb *pgconn.FallbackConfig) int {
		st := o.hosts[hostKey(fb.Host, fb.Port)]
		switch {
		case st == nil:
			return 1
		case !st.unanswered.IsZero() && now.Sub(st.unanswered) > dbSilentAfter:
			return 2
		case st.writable:
			return 0
		default:
			return 1
		}
	}
	slices.SortStableFunc(all, func(a, b *pgconn.FallbackConfig) int { return rank(a) - rank(b) })
	var probe []*pgconn.FallbackConfig
	if rank(all[0]) < 2 {
		for len(all) > 1 && rank(all[len(all)-1]) == 2 {
			fb := all[len(all)-1]
			all = all[:len(all)-1]
			if st := o.hosts[hostKey(fb.Host, fb.Port)]; !st.probing && now.Sub(st.probed) >= dbProbeEvery {
				st.probing, st.probed = true, now
				probe = append(probe, fb)
			}
		}
	}
	o.mu.Unlock()
	for _, fb := range probe {
		pc := cc.Copy()
		pc.Host, pc.Port, pc.TLSConfig, pc.Fallbacks = fb.Host, fb.Port, fb.TLSConfig, nil
		o.wrap(pc)
		go o.probe(pc, hostKey(fb.Host, fb.Port))
	}
	cc.Host, cc.Port, cc.TLSConfig, cc.Fallbacks = all[0].Host, all[0].Port, all[0].TLSConfig, all[1:]
	o.wrap(cc)
}

// probe tries a silent host on its own, so that the connections fleetd
// needs do not wait on it; its answer puts it back in the order.
func (o *hostOrder) probe(pc *pgconn.Config, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), pc.ConnectTimeout+time.Second)
	defer cancel()
	if c, err := pgconn.ConnectConfig(ctx, pc); err == nil {
		_ = c.Close(ctx)
	}
	o.mark(key, func(st *hostState) { st.probing = false })
}

// wrap wraps cc's lookup, dial and validation so that each host's
// attempts and answers are recorded, by the address dialled.
func (o *hostOrder) wrap(cc *pgconn.Config) {
	// The resolved addresses of this attempt, to the host of --db each
	// belongs to; one attempt dials one address at a time.
	var mu sync.Mutex
	names := map[string]string{}
	current := ""
	lookup, dial, validate := cc.LookupFunc, cc.DialFunc, cc.ValidateConnect
	cc.LookupFunc = func(ctx context.Context, host string) ([]string, error) {
		addrs, err := lookup(ctx, host)
		mu.Lock()
		for _, a := range addrs {
			names[a] = host
		}
		mu.Unlock()
		return addrs, err
	}
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		key := addr
		if h, p, err := net.SplitHostPort(addr); err == nil {
			mu.Lock()
			if name, ok := names[h]; ok {
				key = net.JoinHostPort(name, p)
			}
			mu.Unlock()
		}
		mu.Lock()
		current = key
		mu.Unlock()
		o.mark(key, func(st *hostState) {
			if st.unanswered.IsZero() {
				st.unanswered = time.Now()
			}
		})
		return dial(ctx, network, addr)
	}
	cc.ValidateConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
		var err error
		if validate != nil {
			err = validate(ctx, pc)
		}
		mu.Lock()
		key := current
		mu.Unlock()
		o.mark(key, func(st *hostState) { st.unanswered, st.writable = time.Time{}, err == nil })
		return err
	}
}

func (o *hostOrder) mark(key string, f func(*hostState)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.hosts[key]
	if st == nil {
		st = &hostState{}
		o.hosts[key] = st
	}
	f(st)
}
