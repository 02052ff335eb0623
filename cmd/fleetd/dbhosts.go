package main

import (
	"context"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbSilentAfter is how long a host may take to answer a connection attempt
// before hostOrder counts it silent (other connections may be under way
// to it at the same moment: one that just started is not yet silent).
const dbSilentAfter = 250 * time.Millisecond

// hostOrder orders the hosts of a multi-host --db for each new connection:
// the one that last accepted writes first, then those not tried or that
// answered as standbys, and last those whose last attempt got no answer.
// pgx tries the hosts in the order of the connection string, each for up
// to dbConnectTimeout; a primary that hangs (a frozen machine) still
// completes TCP handshakes from its kernel and then says nothing, so
// without this every new connection after a failover would first wait out
// that timeout on the old primary when it is listed before the new one.
type hostOrder struct {
	mu    sync.Mutex
	hosts map[string]*hostState // by host:port as written in --db
}

type hostState struct {
	tried    time.Time // the last dial
	answered time.Time // the last answer to the startup (any answer)
	writable bool      // whether that answer was a read-write server
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

func hostKey(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// prepare reorders one connection attempt's hosts and wraps its lookup,
// dial and validation to learn, by the address dialled, which host of
// --db it is talking to and how that host answers.
func (o *hostOrder) prepare(cc *pgconn.Config) {
	all := append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port, TLSConfig: cc.TLSConfig}}, cc.Fallbacks...)
	now := time.Now()
	o.mu.Lock()
	rank := func(fb *pgconn.FallbackConfig) int {
		st := o.hosts[hostKey(fb.Host, fb.Port)]
		switch {
		case st == nil:
			return 1
		case st.tried.After(st.answered) && now.Sub(st.tried) > dbSilentAfter:
			return 2
		case st.writable:
			return 0
		default:
			return 1
		}
	}
	slices.SortStableFunc(all, func(a, b *pgconn.FallbackConfig) int { return rank(a) - rank(b) })
	o.mu.Unlock()
	cc.Host, cc.Port, cc.TLSConfig, cc.Fallbacks = all[0].Host, all[0].Port, all[0].TLSConfig, all[1:]

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
		o.mark(key, func(st *hostState) { st.tried = time.Now() })
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
		o.mark(key, func(st *hostState) { st.answered, st.writable = time.Now(), err == nil })
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
