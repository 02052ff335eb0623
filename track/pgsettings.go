package track

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SettingAdvice is a PostgreSQL server setting that does not suit fleetd's
// write load, what it is, what fleetd needs, and why.
type SettingAdvice struct {
	Name, Current, Want, Why string
	// Durability is set when the setting breaks the promise that an
	// acknowledged report is stored: fleetd must not run on it.
	Durability bool
}

// settingRule judges one setting from pg_settings (setting in its unit).
type settingRule struct {
	name string
	ok   func(setting string, unitBytes float64) bool
	want string
	why  string
	dura bool
}

var settingRules = []settingRule{
	{name: "fsync", ok: func(v string, _ float64) bool { return v == "on" }, want: "on", dura: true,
		why: "a report is acknowledged once committed; without fsync a crash loses acknowledged reports"},
	// on, local, remote_write and remote_apply all wait for the local
	// flush; only off does not.
	{name: "synchronous_commit", ok: func(v string, _ float64) bool { return v != "off" }, want: "on", dura: true,
		why: "with synchronous_commit off a crash loses the last acknowledged reports"},
	{name: "full_page_writes", ok: func(v string, _ float64) bool { return v == "on" }, want: "on", dura: true,
		why: "without full-page writes a crash can leave torn pages in positions"},
	{name: "max_wal_size", ok: func(v string, unit float64) bool { return bytesOf(v, unit) >= 4<<30 }, want: "≥ 4GB (fleetd's private database: 8GB)",
		why: "tens of thousands of rows a second fill the default 1GB in a minute or two: each forced checkpoint is followed by a burst of full-page writes that stalls commits (p99 acknowledgement 1.3 s instead of 0.47 s at 20,000 reports/s in BENCHMARKS.md)"},
	{name: "checkpoint_timeout", ok: func(v string, _ float64) bool { s, _ := strconv.Atoi(v); return s >= 600 }, want: "≥ 10min (private database: 15min)",
		why: "each checkpoint starts a round of full-page writes for every page then touched"},
	{name: "shared_buffers", ok: func(v string, unit float64) bool { return bytesOf(v, unit) >= 512<<20 }, want: "≥ 512MB (private database: 1GB)",
		why: "the current month's keys of positions and raw_frames are written at random: they must stay in memory"},
}

func bytesOf(v string, unit float64) float64 {
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return n * unit
}

// CheckSettings reads the server's settings and returns those that do not
// suit fleetd, for a database fleetd does not configure itself.
func CheckSettings(ctx context.Context, pool *pgxpool.Pool) ([]SettingAdvice, error) {
	names := make([]string, len(settingRules))
	for i, r := range settingRules {
		names[i] = r.name
	}
	rows, err := pool.Query(ctx, `SELECT name, setting, CASE unit WHEN '8kB' THEN 8192 WHEN 'kB' THEN 1024
		WHEN 'MB' THEN 1048576 ELSE 1 END, coalesce(unit, '') FROM pg_settings WHERE name = ANY($1)`, names)
	if err != nil {
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	defer rows.Close()
	current := map[string][2]string{}
	units := map[string]float64{}
	for rows.Next() {
		var name, setting, unit string
		var mult float64
		if err := rows.Scan(&name, &setting, &mult, &unit); err != nil {
			return nil, fmt.Errorf("read server settings: %w", err)
		}
		current[name] = [2]string{setting, unit}
		units[name] = mult
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	var out []SettingAdvice
	for _, r := range settingRules {
		c, ok := current[r.name]
		if !ok || r.ok(c[0], units[r.name]) {
			continue
		}
		shown := c[0]
		if c[1] != "" {
			shown += " × " + c[1]
		}
		out = append(out, SettingAdvice{Name: r.name, Current: shown, Want: r.want, Why: r.why, Durability: r.dura})
	}
	return out, nil
}
