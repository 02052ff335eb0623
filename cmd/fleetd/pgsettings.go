package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// warnSettings says at start which of a brought-own database's settings
// do not suit fleetd, and why: fleetd configures its private database
// itself (track/localpg), but not one it is given with --db.
func warnSettings(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	advice, err := track.CheckSettings(ctx, pool)
	if err != nil {
		log.Warn("cannot check the database's settings", "err", err)
		return
	}
	for _, a := range advice {
		msg := "database setting slows fleetd down: change it in postgresql.conf"
		if a.Durability {
			msg = "database setting breaks durability: acknowledged reports can be lost in a crash"
		}
		log.Warn(msg, "setting", a.Name, "current", a.Current, "want", a.Want, "why", a.Why)
	}
}
