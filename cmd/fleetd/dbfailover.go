package main

import (
	"net"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// How fleetd notices that the database it talks to is gone or silent, and
// finds the new primary. A primary that dies refuses connections at once;
// one that hangs (a frozen machine, a network partition, a stopped
// process) keeps its connections open and says nothing, and only a
// deadline or the kernel's TCP checks end them. Every database call of
// fleetd carries its own deadline; these settings bound what is left: a
// connection attempt, the health check of an idle connection, and a TCP
// connection whose peer no longer answers.
const (
	// dbConnectTimeout bounds one connection attempt to one host (TCP,
	// TLS, authentication, and the read-write check), so that with several
	// hosts in --db a silent one costs this long before the next is tried.
	dbConnectTimeout = 2 * time.Second
	// dbPingTimeout bounds the ping that checks a connection which sat
	// idle in the pool (over a second) before it is handed out.
	dbPingTimeout = time.Second
	// dbKeepAlive: TCP keepalive probes after this much idle time, every
	// dbKeepAlive/2, dropping the connection after three unanswered ones.
	dbKeepAlive = 5 * time.Second
	// dbTCPUserTimeout drops a TCP connection whose sent data has gone
	// unacknowledged this long (TCP_USER_TIMEOUT, Linux).
	dbTCPUserTimeout = 10 * time.Second
)

// tuneForFailover sets what the connection string leaves unset so that
// fleetd follows the primary of a replicated cluster: connections only
// to a server that accepts writes (target_session_attrs=read-write, so a
// multi-host --db finds the primary and a standby is passed over), a
// bounded connection attempt per host, TCP keepalives and user timeout on
// both ends (the server's settings let PostgreSQL end the sessions, and
// release the advisory-lock leases, of a fleetd node it can no longer
// reach), a bounded health check of idle pooled connections, and the
// hosts tried in the order of how they last answered (hostOrder).
func tuneForFailover(cfg *pgxpool.Config) {
	cc := cfg.ConnConfig
	if cc.ValidateConnect == nil && !strings.Contains(cfg.ConnString(), "target_session_attrs") {
		cc.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = dbConnectTimeout
	}
	d := &net.Dialer{
		Timeout: cc.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: dbKeepAlive, Interval: dbKeepAlive / 2, Count: 3,
		},
		Control: func(network, _ string, c syscall.RawConn) error {
			if runtime.GOOS != "linux" || (network != "tcp" && network != "tcp4" && network != "tcp6") {
				return nil
			}
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(dbTCPUserTimeout/time.Millisecond))
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	cc.DialFunc = d.DialContext
	for k, v := range map[string]string{
		"tcp_keepalives_idle":     "5",
		"tcp_keepalives_interval": "2",
		"tcp_keepalives_count":    "3",
		"tcp_user_timeout":        "10000",
	} {
		if _, ok := cc.RuntimeParams[k]; !ok {
			cc.RuntimeParams[k] = v
		}
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = dbPingTimeout
	}
	new(hostOrder).install(cfg)
}

// tcpUserTimeout is Linux's TCP_USER_TIMEOUT socket option, which package
// syscall does not name.
const tcpUserTimeout = 0x12
