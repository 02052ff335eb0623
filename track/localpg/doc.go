// Package localpg runs a private PostgreSQL + PostGIS cluster inside one directory.
//
// It serves fleetd's default mode (no database given: the data lives next to the server) and the
// tests that need a database server of their own, to stop, crash and start again under load.
// It is not a way to manage a production database: the cluster trusts every connection on its
// private Unix socket.
//
// # What it owns
//
// Everything under Config.Dir:
//
//	Dir/pgdata          PGDATA, made by initdb on the first Start (UTF8, data checksums)
//	Dir/pgdata/localpg.conf
//	                    the settings Start writes on every start (port, socket, durability)
//	Dir/run             the Unix socket directory, mode 0700: the only door with trust auth
//	Dir/postgresql.log  the server's log (pg_ctl -l); Start quotes its tail in errors
//	Dir/tcp-password    the password for TCP connections, mode 0600
//	Dir/tcp-password-fleetmon_owner, Dir/tcp-password-fleetmon_app
//	                    the same for the owner and application roles
//	Dir/localpg.lock    an flock that serialises Start, Stop, Kill and Restart on Dir
//
// The server listens on the Unix socket in Dir/run (trust, guarded by the directory's mode) and
// on 127.0.0.1:Port (scram-sha-256 with the password in Dir/tcp-password), never on another
// address. ConnString names the socket; TCPConnString the loopback port. The database is
// [Database], with PostGIS created in it; the role is the superuser [User].
//
// # Roles
//
// Besides the superuser, Start makes two ordinary login roles: [OwnerUser], which owns [Database]
// (and so, through pg_database_owner, its schema public) and is meant to run migrations, and
// [AppUser], which owns nothing and gets what the owner grants it (ConnStringAs,
// TCPConnStringAs). An application connected as AppUser is subject to the privileges of the
// objects it uses; one connected as the superuser is not. The Unix socket trusts every role: the
// boundary there is the OS user that may enter Dir/run, not a role's password.
//
// Durability settings stay at PostgreSQL's safe defaults (fsync, synchronous_commit and
// full_page_writes on): the durability tests built on this package check exactly that.
//
// # Root and ordinary users
//
// PostgreSQL refuses to run as root. Started by an ordinary user, the cluster runs as that user.
// Started by root, initdb, pg_ctl and the server run as the owner of an existing Dir/pgdata, or,
// for a new cluster, as the OS user "postgres" that the Debian package creates; Start chowns
// Dir, Dir/run and the log to that user and checks that it can reach Dir (every parent directory
// must grant it search permission). The commands get the user through
// syscall.SysProcAttr.Credential, not runuser or sudo.
//
// # Crashes
//
// Start on a Dir whose cluster is already running (another process started it, or a previous
// fleetd exited without Stop) adopts it. A postmaster.pid left by a crash, whose process is gone
// or whose PID now belongs to another program, is removed with the stale socket locks, and
// PostgreSQL replays its WAL as usual.
//
// # Concurrency
//
// A *Server's methods are safe for concurrent use; Start, Stop, Kill and Restart on one Dir are
// serialised across goroutines and processes by Dir/localpg.lock. The server processes outlive
// the Go process that started them (pg_ctl detaches them): call Stop.
//
// # Imports
//
// localpg imports the standard library and pgx only. No other fleetmon package; only
// cmd/fleetd, tests and track/localpg/cmd/pgctl import it.
package localpg
