// Command fleetd is the fleetmon server: the JT/T 808 terminal gateway, the
// storage writer and the HTTP side (metrics, health), with subcommands for
// administration. It is the only place that wires fleetmon's packages
// together; configuration comes from flags and FLEETMON_* environment
// variables, flags winning.
//
//	fleetd serve              run the server
//	fleetd migrate            apply database migrations
//	fleetd vehicles import F  import vehicles from a CSV file
//	fleetd vehicles list      list vehicles
//	fleetd users add          create a user (prints a one-time password)
//	fleetd users reset-password NAME
//	                          give a user a new one-time password (printed)
//	fleetd token create       create an API token (printed once)
//	fleetd token revoke ID    revoke an API token
//	fleetd verify FILE        check an evidence export against the database
//	fleetd compact            lay finished months of positions out for replay
//	fleetd prune              drop raw frames older than --raw-retention
//	fleetd seal-key create P  make the Ed25519 key that signs the daily seals
//	fleetd backup status      the age of pgBackRest's last backups
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `usage: fleetd <command> [flags]

commands:
  serve                    run the server (terminal gateway, storage, HTTP)
  migrate [--runtime-role ROLE]
                           apply database migrations (as the schema's owner) and
                           grant ROLE what serve needs, and no more
  vehicles import FILE.csv import vehicles (header plate,plate_color,terminal_phone,unit,category
                           and, optional, sealed,sealed_at,seal_reason)
  vehicles list            list vehicles
  users add --name NAME --role admin|supervisor|inspector [--unit PATH]
                           create a user; prints a one-time password
  users reset-password NAME
                           give a user a new one-time password (a lost admin
                           password, say); prints it, last
  token create --user NAME [--label TEXT]
                           create an API token; prints it (once), last
  token revoke ID          revoke an API token
  verify FILE              check an evidence export against the database: names
                           every position altered, missing or added since
  verify --seals --from DAY --to DAY [--seal-pubkey KEY] [--expect FILE]
                           check the daily seals of positions, raw frames and the
                           audit log, their signatures, and the day digests kept
                           offline; prints each day's digest (keep it offline)
  seal-key create PATH     make the Ed25519 key serve signs the seals with
                           (--seal-key PATH, outside --data-dir); prints the
                           public key to keep offline
  seal-key show PATH       print a seal key's public key
  compact                  lay finished months of positions out for replay now
                           (serve does it daily: vacuum, rebuild the key)
  prune --raw-retention D  drop raw frames older than D (serve does it daily when
                           it has the owner's login)
  backup status --backup-stanza S [--max-age D]
                           pgBackRest's last backups of the database and their
                           age; exits 1 when the newest is older than D
                           (backups and restores: docs/DEPLOY.md)

Every command takes --db (or FLEETMON_DB): the schema owner's login for
migrate and the administration commands, a runtime role's for serve.
Without it fleetd runs its own PostgreSQL + PostGIS in --data-dir
(FLEETMON_DATA_DIR, default ./data) and sets both roles up itself.
Run "fleetd <command> -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code: 0 success,
// 1 failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "verify":
		err = cmdVerify(ctx, args[1:], stdout, stderr)
	case "compact":
		err = cmdCompact(ctx, args[1:], stdout, stderr)
	case "prune":
		err = cmdPrune(ctx, args[1:], stdout, stderr)
	case "seal-key":
		err = cmdSealKey(ctx, args[1:], stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], stdout, stderr)
	case "vehicles":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		switch args[1] {
		case "import":
			err = cmdVehiclesImport(ctx, args[2:], stdout, stderr)
		case "list":
			err = cmdVehiclesList(ctx, args[2:], stdout, stderr)
		default:
			fmt.Fprintf(stderr, "fleetd: unknown vehicles command %q\n\n%s", args[1], usage)
			return 2
		}
	case "users":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		switch args[1] {
		case "add":
			err = cmdUsersAdd(ctx, args[2:], stdout, stderr)
		case "reset-password":
			err = cmdUsersResetPassword(ctx, args[2:], stdout, stderr)
		default:
			fmt.Fprintf(stderr, "fleetd: unknown users command %q\n\n%s", args[1], usage)
			return 2
		}
	case "token":
		if len(args) < 2 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		switch args[1] {
		case "create":
			err = cmdTokenCreate(ctx, args[2:], stdout, stderr)
		case "revoke":
			err = cmdTokenRevoke(ctx, args[2:], stdout, stderr)
		default:
			fmt.Fprintf(stderr, "fleetd: unknown token command %q\n\n%s", args[1], usage)
			return 2
		}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fleetd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "fleetd: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "fleetd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// newLogger builds the process logger from --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: want text or json", format)}
}
