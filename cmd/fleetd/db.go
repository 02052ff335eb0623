package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
	"fleetmon/track/localpg"
)

// dbFlags are the database flags every command takes.
type dbFlags struct {
	db      string
	dataDir string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db", envOr("FLEETMON_DB", ""),
		"PostgreSQL connection string (env FLEETMON_DB); empty runs a private PostgreSQL+PostGIS in --data-dir")
	fs.StringVar(&f.dataDir, "data-dir", envOr("FLEETMON_DATA_DIR", "data"),
		"directory for fleetd's own data, including its private database when --db is empty (env FLEETMON_DATA_DIR)")
}

// database is an open, migrated database, and the private server behind it
// when fleetd runs one.
type database struct {
	pool  *pgxpool.Pool
	local *localpg.Server
	// ownsLocal is true when this process started the private server (and
	// so stops it), false when it joined one already running, such as the
	// one of a running fleetd serve.
	ownsLocal bool
	log       *slog.Logger
}

// openDB connects to --db, or starts (or joins) the private server in
// --data-dir, and applies migrations.
func openDB(ctx context.Context, f dbFlags, maxConns int32, log *slog.Logger) (*database, error) {
	d := &database{log: log}
	conn := f.db
	if conn == "" {
		dir := filepath.Join(f.dataDir, "pg")
		srv, err := localpg.Start(ctx, localpg.Config{Dir: dir, Logger: log.With("component", "localpg")})
		if err != nil {
			return nil, fmt.Errorf("start private database in %s: %w", dir, err)
		}
		d.local, d.ownsLocal = srv, !srv.Adopted()
		log.Info("using private PostgreSQL", "dir", dir, "adopted", srv.Adopted())
		conn = srv.ConnString()
	}
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		d.close()
		return nil, usageError{fmt.Sprintf("--db: %v", err)}
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "fleetd"
	tuneForFailover(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		d.close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	d.pool = pool
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		d.close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if _, err := track.Migrate(ctx, pool, log); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// close closes the pool and stops the private server if this process
// started it.
func (d *database) close() {
	if d.pool != nil {
		d.pool.Close()
	}
	if d.local != nil && d.ownsLocal {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := d.local.Stop(ctx); err != nil {
			d.log.Error("stop private database", "err", err)
		}
	}
}
