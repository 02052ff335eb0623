package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"fleetmon/api"
	"fleetmon/track"
)

// adminCmd is what every administration command shares: the database
// flags, a log level, and opening the (migrated) database.
type adminCmd struct {
	fs     *flag.FlagSet
	db     dbFlags
	level  string
	stderr io.Writer
}

func newAdminCmd(name string, stderr io.Writer) *adminCmd {
	c := &adminCmd{fs: flag.NewFlagSet("fleetd "+name, flag.ContinueOnError), stderr: stderr}
	c.fs.SetOutput(stderr)
	c.db.register(c.fs)
	c.fs.StringVar(&c.level, "log-level", envOr("FLEETMON_LOG_LEVEL", "warn"), "debug, info, warn or error")
	return c
}

// open opens the database the flags name, logging at the flags' level.
func (c *adminCmd) open(ctx context.Context) (*database, error) {
	log, err := newLogger(c.stderr, c.level, "text")
	if err != nil {
		return nil, err
	}
	return openDB(ctx, c.db, 2, log)
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("migrate", stderr)
	fs := c.fs
	runtime := fs.String("runtime-role", envOr("FLEETMON_RUNTIME_ROLE", ""),
		"after migrating, grant this existing role (a login that owns nothing) what fleetd serve needs, and no more; serve then runs with --db as that role (env FLEETMON_RUNTIME_ROLE; the private database does this itself)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	if *runtime != "" {
		if err := track.GrantRuntime(ctx, db.pool, *runtime); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "granted runtime role %s: serve with --db as %s\n", *runtime, *runtime)
	}
	var v int
	if err := db.pool.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	fmt.Fprintf(stdout, "schema at version %d\n", v)
	return nil
}

func cmdVehiclesImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("vehicles import", stderr)
	fs := c.fs
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"vehicles import takes one FILE.csv"}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	// Parse and validate the whole file before touching the database.
	vs, err := track.ParseVehicleCSV(f)
	if err != nil {
		return fmt.Errorf("%s: nothing imported:\n%w", fs.Arg(0), err)
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	created, updated, err := track.NewStore(db.pool).ImportVehicles(ctx, vs)
	if err != nil {
		return fmt.Errorf("%s: nothing imported: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdout, "imported %d vehicles: %d created, %d updated\n", len(vs), created, updated)
	return nil
}

func cmdVehiclesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("vehicles list", stderr)
	fs := c.fs
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	vs, err := track.NewStore(db.pool).ListVehicles(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPLATE\tCOLOR\tCATEGORY\tTERMINAL\tSEALED\tUNIT")
	for _, v := range vs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%v\t%s\n", v.ID, v.Plate, v.PlateColor, v.Category, v.TerminalPhone, v.Sealed, v.UnitPath)
	}
	return tw.Flush()
}

// cmdCompact compacts every finished month of positions not compacted yet
// (track.CompactHistory), as fleetd serve does daily: after importing
// history, or to do it at a quiet hour of one's choosing.
func cmdCompact(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("compact", stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	done, err := track.NewStore(db.pool).CompactHistory(ctx, time.Now())
	for _, d := range done {
		fmt.Fprintf(stdout, "compacted %s in %s\n", d.Partition, d.Took.Round(time.Millisecond))
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(stdout, "nothing to compact: every finished month is compacted already")
	}
	return nil
}

// cmdPrune drops the raw-frame partitions older than --raw-retention, as
// fleetd serve does daily when it has the owner's login: for a serve that
// runs as a runtime role, which may not drop tables, from cron with the
// owner's --db.
func cmdPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("prune", stderr)
	retention := c.fs.String("raw-retention", envOr("FLEETMON_RAW_RETENTION", ""),
		"drop raw frames older than this, by whole months (e.g. 4320h = 180 days) (env FLEETMON_RAW_RETENTION)")
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	keep, err := time.ParseDuration(*retention)
	if err != nil || keep <= 0 {
		return usageError{fmt.Sprintf("--raw-retention %q: want a positive duration such as 4320h", *retention)}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	dropped, err := track.NewStore(db.pool).PruneRawFrames(ctx, time.Now().Add(-keep))
	for _, name := range dropped {
		fmt.Fprintf(stdout, "dropped %s\n", name)
	}
	return err
}

// cmdUsersResetPassword gives a user a new one-time password and prints it,
// last: how an administrator who lost the password (the one make run showed
// once, say) gets back in. The reset is audited as done at the console.
func cmdUsersResetPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("users reset-password", stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() != 1 {
		return usageError{"users reset-password takes one user NAME"}
	}
	name := c.fs.Arg(0)
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	u, otp, err := api.NewAccounts(db.pool).ResetPassword(ctx, nil, "", name)
	if errors.Is(err, track.ErrNotFound) {
		return fmt.Errorf("no user %q (fleetd users add creates one)", name)
	}
	if err != nil {
		return err
	}
	if u.Disabled {
		fmt.Fprintf(stdout, "note: %s is disabled: the new password works only once an administrator enables the account\n", u.Name)
	}
	fmt.Fprintf(stdout, "reset the password of %s (%s); one-time password (change it at first login): %s\n", u.Name, u.Role, otp)
	return nil
}
