package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
	"fleetmon/track/localpg"
)

// dbFlags are the database flags every command takes.
type dbFlags struct {
	db      string
	dataDir string
	sealKey string
	// ownerDB is serve's --owner-db: the owner's login, for compaction and
	// raw-frame retention only.
	ownerDB string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db", envOr("FLEETMON_DB", ""),
		"PostgreSQL connection string (env FLEETMON_DB): the schema owner's for migrate and the administration commands, the runtime role's for serve; empty runs a private PostgreSQL+PostGIS in --data-dir")
	fs.StringVar(&f.dataDir, "data-dir", envOr("FLEETMON_DATA_DIR", "data"),
		"directory for fleetd's own data, including its private database when --db is empty (env FLEETMON_DATA_DIR)")
	fs.StringVar(&f.sealKey, "seal-key", envOr("FLEETMON_SEAL_KEY", ""),
		"Ed25519 key file (fleetd seal-key create) that serve signs the daily seals with, outside --data-dir; verify checks against its public half (env FLEETMON_SEAL_KEY)")
}

// registerServe is register plus what only fleetd serve takes.
func (f *dbFlags) registerServe(fs *flag.FlagSet) {
	f.register(fs)
	fs.StringVar(&f.ownerDB, "owner-db", envOr("FLEETMON_OWNER_DB", ""),
		"with --db a runtime role's login: the schema owner's, used only by the daily compaction and --raw-retention (which need to own the tables); empty leaves them to fleetd compact and fleetd prune run by the owner (env FLEETMON_OWNER_DB)")
}

// database is an open, migrated database, and the private server behind it
// when fleetd runs one.
type database struct {
	pool *pgxpool.Pool
	// owner is a pool connected as the schema's owner, for the maintenance
	// that only an owner may do (compaction's REINDEX, dropping expired raw
	// frame partitions): pool itself when the command runs as the owner,
	// a small second pool when fleetd serve runs its private database, nil
	// when serve was given a runtime login and nothing more.
	owner *pgxpool.Pool
	local *localpg.Server
	// ownsLocal is true when this process started the private server (and
	// so stops it), false when it joined one already running, such as the
	// one of a running fleetd serve.
	ownsLocal bool
	log       *slog.Logger
	// sealKey signs the daily seals (serve); nil seals them unsigned.
	sealKey ed25519.PrivateKey
}

// openDB connects to --db as the schema's owner, or starts (or joins) the
// private server in --data-dir and connects as its owner role, and applies
// migrations. The administration commands use it.
func openDB(ctx context.Context, f dbFlags, maxConns int32, log *slog.Logger) (*database, error) {
	d := &database{log: log}
	if f.db == "" {
		if err := d.startLocal(ctx, f); err != nil {
			return nil, err
		}
		if err := d.setupLocal(ctx, maxConns); err != nil {
			d.close()
			return nil, err
		}
		d.pool = d.owner
		return d, nil
	}
	pool, err := connect(ctx, f.db, maxConns)
	if err != nil {
		return nil, err
	}
	d.pool, d.owner = pool, pool
	if _, err := track.Migrate(ctx, pool, log); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// openServeDB opens the database for fleetd serve, which works as a runtime
// role that owns nothing: it can insert into the audit log and the
// evidence tables but not alter, delete or truncate them, nor disable or
// drop their triggers. With the private database fleetd sets the roles up
// itself: it migrates as the owner role, grants the runtime role and
// serves as it. Given --db, serve migrates only when the login may
// (the owner, or a superuser), and then says loudly that it runs with more
// privilege than it needs; a runtime login needs the schema migrated
// already (fleetd migrate --db OWNER_URL --runtime-role ROLE).
func openServeDB(ctx context.Context, f dbFlags, maxConns int32, log *slog.Logger) (*database, error) {
	key, err := f.loadSealKey()
	if err != nil {
		return nil, err
	}
	// Sealing goes on without a key, so that the chain has no gap and a
	// deployment that upgrades keeps running; but an unsigned seal can be
	// rebuilt by whoever can delete it, which is said at every start (and
	// by fleetd verify for every unsigned day).
	if key == nil {
		log.Warn("no --seal-key: the daily seals are made UNSIGNED and can be rebuilt over altered data by anyone who can write the database; create a key with fleetd seal-key create PATH (outside --data-dir) and pass --seal-key PATH")
	} else {
		log.Info("signing the daily seals", "public_key", hex.EncodeToString(key.Public().(ed25519.PublicKey)))
		if fi, err := os.Stat(f.sealKey); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the seal key file is readable by other users than its owner: chmod 600 it", "path", f.sealKey, "mode", fi.Mode().Perm().String())
		}
	}
	d := &database{log: log, sealKey: key}
	if f.db == "" {
		if err := d.startLocal(ctx, f); err != nil {
			return nil, err
		}
		// Two owner connections: compaction and retention, one at a time.
		if err := d.setupLocal(ctx, 2); err != nil {
			d.close()
			return nil, err
		}
		pool, err := connect(ctx, d.local.ConnStringAs(localpg.AppUser), maxConns)
		if err != nil {
			d.close()
			return nil, err
		}
		d.pool = pool
		return d, nil
	}
	pool, err := connect(ctx, f.db, maxConns)
	if err != nil {
		return nil, err
	}
	d.pool = pool
	warnSettings(ctx, pool, log)
	priv, err := track.CurrentPrivilege(ctx, pool)
	if err != nil {
		d.close()
		return nil, err
	}
	if priv == track.PrivRuntime {
		pending, err := track.Pending(ctx, pool)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("check the schema version (a runtime login cannot migrate): %w", err)
		}
		if len(pending) > 0 {
			d.close()
			return nil, fmt.Errorf("the schema lacks migrations %s, and --db is a runtime login that may not apply them: run fleetd migrate --db OWNER_URL --runtime-role ROLE first",
				strings.Join(pending, ", "))
		}
		if f.ownerDB == "" {
			log.Warn("fleetd serve runs as a runtime role without --owner-db: compaction and raw-frame retention need the owner and are not run by serve; schedule fleetd compact --db OWNER_URL (and fleetd prune --raw-retention D)")
			return d, nil
		}
		if d.owner, err = connect(ctx, f.ownerDB, 2); err != nil {
			d.close()
			return nil, fmt.Errorf("--owner-db: %w", err)
		}
		return d, nil
	}
	// An owner or superuser login still works, so that an upgrade does not
	// stop a running deployment; but it is said at every start, because
	// with it the append-only tables are append-only only by convention.
	what := "the owner of the schema"
	if priv == track.PrivSuperuser {
		what = "a superuser"
	}
	log.Warn("fleetd serve is connected as "+what+": it could disable the audit log's triggers and rewrite the evidence; serve as a runtime role instead (fleetd migrate --db OWNER_URL --runtime-role ROLE, then fleetd serve --db RUNTIME_URL; see docs/DEPLOY.md)",
		"privilege", what)
	d.owner = pool
	if _, err := track.Migrate(ctx, pool, log); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// startLocal starts (or joins) the private server in --data-dir.
func (d *database) startLocal(ctx context.Context, f dbFlags) error {
	dir := filepath.Join(f.dataDir, "pg")
	srv, err := localpg.Start(ctx, localpg.Config{Dir: dir, Logger: d.log.With("component", "localpg")})
	if err != nil {
		return fmt.Errorf("start private database in %s: %w", dir, err)
	}
	d.local, d.ownsLocal = srv, !srv.Adopted()
	d.log.Info("using private PostgreSQL", "dir", dir, "adopted", srv.Adopted())
	return nil
}

// setupLocal gives the private database's objects to its owner role (a
// database made by an older fleetd has them owned by the superuser),
// migrates as the owner and grants the runtime role. d.owner is the
// owner's pool.
func (d *database) setupLocal(ctx context.Context, maxConns int32) error {
	super, err := pgx.Connect(ctx, d.local.ConnString())
	if err != nil {
		return fmt.Errorf("connect to the private database: %w", err)
	}
	n, err := track.TransferOwnership(ctx, super, localpg.OwnerUser)
	super.Close(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	if n > 0 {
		d.log.Info("gave the private database's objects to its owner role", "objects", n, "role", localpg.OwnerUser)
	}
	if d.owner, err = connect(ctx, d.local.ConnStringAs(localpg.OwnerUser), maxConns); err != nil {
		return err
	}
	if _, err := track.Migrate(ctx, d.owner, d.log); err != nil {
		return err
	}
	return track.GrantRuntime(ctx, d.owner, localpg.AppUser)
}

// connect opens a pool on conn and checks that the server answers.
func connect(ctx context.Context, conn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--db: %v", err)}
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "fleetd"
	tuneForFailover(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// maintenanceStore is the store that compaction and raw-frame retention
// run on: the owner's, or nil when this process has no owner login.
func (d *database) maintenanceStore() *track.Store {
	if d.owner == nil {
		return nil
	}
	return track.NewStore(d.owner)
}

// close closes the pools and stops the private server if this process
// started it.
func (d *database) close() {
	if d.pool != nil {
		d.pool.Close()
	}
	if d.owner != nil && d.owner != d.pool {
		d.owner.Close()
	}
	if d.local != nil && d.ownsLocal {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := d.local.Stop(ctx); err != nil {
			d.log.Error("stop private database", "err", err)
		}
	}
}
