package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// fleetmon's backups are pgBackRest's: it archives the primary's WAL
// (archive_command) and takes the base backups, and restores them, as
// docs/DEPLOY.md says. fleetd re-implements none of it. It only reads what
// the two report, so that an operator learns from fleetd's metrics, or
// from fleetd backup status in a cron job, that backups have stopped:
// the archiver's counters from the primary's pg_stat_archiver, and the
// last backup of each type from pgbackrest info.

// backupFlags name the pgBackRest stanza that backs fleetmon's database.
type backupFlags struct {
	stanza string
	config string // pgbackrest.conf; "" is pgBackRest's default
}

func (f *backupFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.stanza, "backup-stanza", envOr("FLEETMON_BACKUP_STANZA", ""),
		"the pgBackRest stanza that backs up the database: serve exports its last backup's age, from pgbackrest info on this host (env FLEETMON_BACKUP_STANZA; empty: no backup metrics, the WAL archiver's still)")
	fs.StringVar(&f.config, "pgbackrest-config", envOr("FLEETMON_PGBACKREST_CONFIG", ""),
		"pgBackRest's configuration file, when not its default /etc/pgbackrest/pgbackrest.conf (env FLEETMON_PGBACKREST_CONFIG)")
}

// backupSet is one backup pgbackrest info lists.
type backupSet struct {
	Label     string `json:"label"`
	Type      string `json:"type"` // full, diff or incr
	Error     bool   `json:"error"`
	Timestamp struct {
		Start int64 `json:"start"`
		Stop  int64 `json:"stop"`
	} `json:"timestamp"`
}

// stanzaInfo is a stanza as pgbackrest info --output=json describes it.
type stanzaInfo struct {
	Name   string `json:"name"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Backup  []backupSet `json:"backup"`
	Archive []struct {
		ID  string `json:"id"`
		Min string `json:"min"`
		Max string `json:"max"`
	} `json:"archive"`
}

// lastBackups returns the latest backup without error of each type.
func (s stanzaInfo) lastBackups() map[string]backupSet {
	last := map[string]backupSet{}
	for _, b := range s.Backup {
		if b.Error {
			continue
		}
		if l, ok := last[b.Type]; !ok || b.Timestamp.Stop > l.Timestamp.Stop {
			last[b.Type] = b
		}
	}
	return last
}

// latest returns the newest backup of any type, or false.
func (s stanzaInfo) latest() (backupSet, bool) {
	var best backupSet
	found := false
	for _, b := range s.lastBackups() {
		if !found || b.Timestamp.Stop > best.Timestamp.Stop {
			best, found = b, true
		}
	}
	return best, found
}

// readStanzaInfo runs pgbackrest info for the stanza.
func readStanzaInfo(ctx context.Context, f backupFlags) (stanzaInfo, error) {
	args := []string{"--stanza=" + f.stanza, "--output=json", "--log-level-console=error"}
	if f.config != "" {
		args = append(args, "--config="+f.config)
	}
	cmd := exec.CommandContext(ctx, "pgbackrest", append(args, "info")...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stanzaInfo{}, fmt.Errorf("pgbackrest info for stanza %s: %w: %s", f.stanza, err, ee.Stderr)
		}
		return stanzaInfo{}, fmt.Errorf("pgbackrest info for stanza %s: %w", f.stanza, err)
	}
	var all []stanzaInfo
	if err := json.Unmarshal(out, &all); err != nil {
		return stanzaInfo{}, fmt.Errorf("pgbackrest info for stanza %s: read its JSON: %w", f.stanza, err)
	}
	for _, s := range all {
		if s.Name == f.stanza {
			return s, nil
		}
	}
	return stanzaInfo{}, fmt.Errorf("pgbackrest info knows no stanza %s", f.stanza)
}

// errBackupStale makes fleetd backup status exit 1.
type errBackupStale struct{ what string }

func (e errBackupStale) Error() string { return e.what }

// cmdBackup is fleetd backup status: the stanza's last backup of each type
// and its age, and the WAL the repository holds; it exits 1 when the
// stanza is not ok or its newest backup is older than --max-age, for a
// cron job or a monitoring check on the host that runs pgBackRest.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "status" {
		return usageError{"backup takes status [--backup-stanza S] [--pgbackrest-config F] [--max-age D]"}
	}
	fs := flag.NewFlagSet("fleetd backup status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f backupFlags
	f.register(fs)
	maxAge := fs.Duration("max-age", 26*time.Hour, "exit 1 when the newest backup is older than this (a daily backup, with two hours' slack)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if f.stanza == "" {
		return usageError{"backup status needs --backup-stanza (or FLEETMON_BACKUP_STANZA)"}
	}
	s, err := readStanzaInfo(ctx, f)
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(stdout, "stanza %s: %s\n", s.Name, s.Status.Message)
	last := s.lastBackups()
	for _, typ := range []string{"full", "diff", "incr"} {
		if b, ok := last[typ]; ok {
			stop := time.Unix(b.Timestamp.Stop, 0)
			fmt.Fprintf(stdout, "last %s backup %s finished %s (%s ago)\n", typ, b.Label,
				stop.UTC().Format(time.RFC3339), now.Sub(stop).Round(time.Second))
		}
	}
	for _, a := range s.Archive {
		fmt.Fprintf(stdout, "WAL archive %s: %s to %s\n", a.ID, a.Min, a.Max)
	}
	if s.Status.Code != 0 {
		return errBackupStale{fmt.Sprintf("stanza %s: %s", s.Name, s.Status.Message)}
	}
	b, ok := s.latest()
	if !ok {
		return errBackupStale{fmt.Sprintf("stanza %s has no backup", s.Name)}
	}
	if age := now.Sub(time.Unix(b.Timestamp.Stop, 0)); age > *maxAge {
		return errBackupStale{fmt.Sprintf("the newest backup, %s, is %s old: more than --max-age %s", b.Label, age.Round(time.Second), *maxAge)}
	}
	fmt.Fprintln(stdout, "OK")
	return nil
}

// backupMetrics exports the state of the backups: the primary's WAL
// archiver (pg_stat_archiver, read through serve's pool, which follows
// the primary) and, with --backup-stanza, the stanza's last backups. Two
// maintenance jobs refresh them; a scrape reads the last snapshot, so
// that a slow database or pgbackrest never holds up /metrics, and a job's
// failures show in fleetmon_maintenance_runs_total.
type backupMetrics struct {
	mu       sync.Mutex
	archiver *archiverStats
	backups  map[string]time.Time // by type, the last backup's end
}

// archiverStats is a row of pg_stat_archiver, with archive_mode.
type archiverStats struct {
	enabled          bool
	archived, failed int64
	lastArchived     *time.Time
	lastFailed       *time.Time
}

var (
	descArchiveEnabled = prometheus.NewDesc("fleetmon_wal_archive_enabled",
		"1 when the primary archives its WAL (archive_mode is not off), else 0: without it there is no point-in-time restore.", nil, nil)
	descArchived = prometheus.NewDesc("fleetmon_wal_archived_total",
		"WAL segments the primary has archived (pg_stat_archiver.archived_count; it starts again on a new primary).", nil, nil)
	descArchiveFailures = prometheus.NewDesc("fleetmon_wal_archive_failures_total",
		"Failed attempts to archive a WAL segment (pg_stat_archiver.failed_count); the segment stays on the primary and is tried again.", nil, nil)
	descArchiveLast = prometheus.NewDesc("fleetmon_wal_archive_last_success_timestamp_seconds",
		"When the primary last archived a WAL segment (Unix time).", nil, nil)
	descArchiveAge = prometheus.NewDesc("fleetmon_wal_archive_age_seconds",
		"Seconds since the primary last archived a WAL segment: what a restore would lose at most, were the primary's disk lost now.", nil, nil)
	descArchiveLastFailure = prometheus.NewDesc("fleetmon_wal_archive_last_failure_timestamp_seconds",
		"When archiving a WAL segment last failed (Unix time).", nil, nil)
	descBackupLast = prometheus.NewDesc("fleetmon_backup_last_success_timestamp_seconds",
		"When the stanza's last backup of each type (full, diff, incr) finished (Unix time), from pgbackrest info.", []string{"type"}, nil)
	descBackupAge = prometheus.NewDesc("fleetmon_backup_age_seconds",
		"Seconds since the stanza's newest backup of any type finished: a restore replays the WAL archived since.", nil, nil)
)

func (m *backupMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descArchiveEnabled, descArchived, descArchiveFailures, descArchiveLast,
		descArchiveAge, descArchiveLastFailure, descBackupLast, descBackupAge} {
		ch <- d
	}
}

func (m *backupMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if a := m.archiver; a != nil {
		enabled := 0.0
		if a.enabled {
			enabled = 1
		}
		ch <- prometheus.MustNewConstMetric(descArchiveEnabled, prometheus.GaugeValue, enabled)
		ch <- prometheus.MustNewConstMetric(descArchived, prometheus.CounterValue, float64(a.archived))
		ch <- prometheus.MustNewConstMetric(descArchiveFailures, prometheus.CounterValue, float64(a.failed))
		if a.lastArchived != nil {
			ch <- prometheus.MustNewConstMetric(descArchiveLast, prometheus.GaugeValue, unixSeconds(*a.lastArchived))
			ch <- prometheus.MustNewConstMetric(descArchiveAge, prometheus.GaugeValue, now.Sub(*a.lastArchived).Seconds())
		}
		if a.lastFailed != nil {
			ch <- prometheus.MustNewConstMetric(descArchiveLastFailure, prometheus.GaugeValue, unixSeconds(*a.lastFailed))
		}
	}
	var newest time.Time
	types := make([]string, 0, len(m.backups))
	for typ := range m.backups {
		types = append(types, typ)
	}
	slices.Sort(types)
	for _, typ := range types {
		at := m.backups[typ]
		ch <- prometheus.MustNewConstMetric(descBackupLast, prometheus.GaugeValue, unixSeconds(at), typ)
		if at.After(newest) {
			newest = at
		}
	}
	if !newest.IsZero() {
		ch <- prometheus.MustNewConstMetric(descBackupAge, prometheus.GaugeValue, now.Sub(newest).Seconds())
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// watchBackups registers the backup metrics and starts the jobs that
// refresh them: the archiver every 30 s, pgbackrest info (with a stanza)
// every 5 minutes. A backup is daily or so; info reads the repository,
// which may be on another host.
func watchBackups(ctx context.Context, j *jobs, reg prometheus.Registerer, pool *pgxpool.Pool, f backupFlags, log *slog.Logger) {
	m := &backupMetrics{}
	reg.MustRegister(m)
	go j.every(ctx, "wal-archiver", 30*time.Second, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var a archiverStats
		var mode string
		err := pool.QueryRow(ctx, `SELECT archived_count, failed_count, last_archived_time, last_failed_time,
			current_setting('archive_mode') FROM pg_stat_archiver`).Scan(&a.archived, &a.failed, &a.lastArchived, &a.lastFailed, &mode)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read pg_stat_archiver: %w", err)
		}
		a.enabled = mode != "off"
		m.mu.Lock()
		m.archiver = &a
		m.mu.Unlock()
		return nil
	})
	if f.stanza == "" {
		return
	}
	log.Info("exporting backup metrics", "stanza", f.stanza)
	go j.every(ctx, "backup-info", 5*time.Minute, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		s, err := readStanzaInfo(ctx, f)
		if err != nil {
			return err
		}
		backups := map[string]time.Time{}
		for typ, b := range s.lastBackups() {
			backups[typ] = time.Unix(b.Timestamp.Stop, 0)
		}
		m.mu.Lock()
		m.backups = backups
		m.mu.Unlock()
		if s.Status.Code != 0 {
			return fmt.Errorf("pgbackrest stanza %s: %s", s.Name, s.Status.Message)
		}
		return nil
	})
}
