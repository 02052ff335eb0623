package track

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Manifest says what an evidence export covers, so that it can be checked
// against the database months later (fleetd verify FILE): the vehicle, the
// period, who exported it, when and why, and the canonical digest of every
// position it holds. Exports embed it: GeoJSON and JSON as the top-level
// member "fleetmon_evidence"; CSV, GPX, KML and HTML as one line containing
// ManifestMarker followed by the manifest as base64 JSON (inside a comment
// of the format).
type Manifest struct {
	Format     int       `json:"format"` // 1
	VehicleID  int64     `json:"vehicle_id"`
	Plate      string    `json:"plate"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	ExportedAt time.Time `json:"exported_at"`
	ExportedBy string    `json:"exported_by"`
	Reason     string    `json:"reason"`
	Rows       int       `json:"rows"`
	// Digest is SHA-256 over the rows' digests in order (hex).
	Digest string `json:"digest"`
	// RowDigests lists every position: device time (RFC 3339 with
	// nanoseconds), fix hash and digest (hex).
	RowDigests []ManifestRow `json:"row_digests"`
	// SealPublicKey is the Ed25519 key (hex) the exporting server signs
	// the daily seals with; empty when it has none.
	SealPublicKey string `json:"seal_public_key,omitempty"`
	// SealDays are the signed records of the days the rows were stored on
	// (seal.go), so that a seal rebuilt after the export no longer
	// matches it; a day not sealed yet has no digest.
	SealDays []ManifestSealDay `json:"seal_days,omitempty"`

	// days are the reception days of the rows (Beijing), while exporting.
	days map[string]bool
	// Cutoff says which stored rows the export could see, so that rows
	// stored after it (a period exported while it was still running, a
	// terminal's back-fill) are told apart from rows slipped in later.
	// Manifests written before it was recorded have none.
	Cutoff *ManifestCutoff `json:"cutoff,omitempty"`
}

// ManifestCutoff is the point in the database's history an export was
// read at.
type ManifestCutoff struct {
	// Snapshot is the PostgreSQL snapshot (pg_snapshot text, xmin:xmax:xip)
	// the rows were read in: a row stored by a transaction not visible in
	// it was committed after the export.
	Snapshot string `json:"snapshot"`
	// ReceivedThrough is the latest reception time among the rows, for
	// people (the snapshot decides).
	ReceivedThrough *time.Time `json:"received_through,omitempty"`
}

// ManifestSealDay is one day's seal as an export records it.
type ManifestSealDay struct {
	Day      string     `json:"day"`
	Digest   string     `json:"digest,omitempty"`
	SealedAt *time.Time `json:"sealed_at,omitempty"`
	// Key is the signing key (hex) when it is not SealPublicKey.
	Key       string `json:"key,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// ManifestRow is one position of a manifest.
type ManifestRow struct {
	Time    time.Time `json:"t"`
	FixHash int64     `json:"f"`
	Digest  string    `json:"d"`
}

// ManifestMarker starts the manifest line of a text export.
const ManifestMarker = "fleetmon-evidence:"

// ExportRow is one position as an export writes it.
type ExportRow struct {
	DeviceTime, ReceivedAt time.Time
	FixHash                int64
	Lat, Lon               float64
	SpeedKmh               float64
	Heading, AltitudeM     int64
	Alarm, Status          int64
	MileageKm              *float64
	Backfill               bool
	// Digest is the row's canonical digest (the manifest's entry).
	Digest RowDigest
}

// Export streams a vehicle's positions in [from, to) to fn, in time order,
// and returns the manifest of exactly those rows: it is computed in the
// same pass, so rows stored meanwhile (a back-fill) cannot make the export
// and its manifest disagree, and it records the snapshot they were read in
// (Manifest.Cutoff). fn's argument is reused for the next row.
func (s *Store) Export(ctx context.Context, vehicleID int64, plate string, from, to time.Time, by, reason string, at time.Time, fn func(*ExportRow) error) (*Manifest, error) {
	var m *Manifest
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		m, err = exportIn(ctx, tx, vehicleID, plate, from, to, by, reason, at, fn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("export vehicle %d: %w", vehicleID, err)
	}
	if err := s.manifestSeals(ctx, m); err != nil {
		return nil, fmt.Errorf("export vehicle %d: %w", vehicleID, err)
	}
	return m, nil
}

// exportIn is Export's reading, in tx (repeatable read: the snapshot it
// records is the one every row was read in).
func exportIn(ctx context.Context, tx pgx.Tx, vehicleID int64, plate string, from, to time.Time, by, reason string, at time.Time, fn func(*ExportRow) error) (*Manifest, error) {
	m := &Manifest{Format: 1, VehicleID: vehicleID, Plate: plate, From: from, To: to, ExportedAt: at,
		ExportedBy: by, Reason: reason, RowDigests: []ManifestRow{}, Cutoff: &ManifestCutoff{}}
	if err := tx.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&m.Cutoff.Snapshot); err != nil {
		return nil, fmt.Errorf("read the snapshot: %w", err)
	}
	h := sha256.New()
	var row ExportRow
	m.days = map[string]bool{}
	var through time.Time
	err := digestRows(ctx, tx, `SELECT `+positionsCanonical+` FROM positions
		WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3 ORDER BY device_time, fix_hash`,
		[]any{vehicleID, from, to}, func(d RowDigest, v []any) error {
			h.Write(d[:])
			row = ExportRow{DeviceTime: v[1].(time.Time), FixHash: v[2].(int64), ReceivedAt: v[3].(time.Time),
				Lat: v[5].(float64), Lon: v[6].(float64), SpeedKmh: v[7].(float64), Heading: v[8].(int64),
				AltitudeM: v[9].(int64), Alarm: v[10].(int64), Status: v[11].(int64), Backfill: v[18].(bool), Digest: d}
			if km, ok := v[12].(float64); ok {
				row.MileageKm = &km
			}
			if row.ReceivedAt.After(through) {
				through = row.ReceivedAt
			}
			m.days[row.ReceivedAt.In(Beijing).Format(time.DateOnly)] = true
			m.RowDigests = append(m.RowDigests, ManifestRow{Time: row.DeviceTime, FixHash: row.FixHash, Digest: hex.EncodeToString(d[:])})
			return fn(&row)
		})
	if err != nil {
		return nil, err
	}
	if !through.IsZero() {
		through = through.UTC()
		m.Cutoff.ReceivedThrough = &through
	}
	m.Rows = len(m.RowDigests)
	m.Digest = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// manifestSeals records in m the server's seal key and the day records of
// the days its rows were received on.
func (s *Store) manifestSeals(ctx context.Context, m *Manifest) error {
	days := m.days
	if s.sealPub != nil {
		m.SealPublicKey = hex.EncodeToString(s.sealPub)
	}
	if len(days) == 0 {
		return nil
	}
	list := make([]string, 0, len(days))
	for d := range days {
		list = append(list, d)
	}
	sort.Strings(list)
	recs, err := s.SealDayRecords(ctx, mustDay(list[0]), mustDay(list[len(list)-1]))
	if err != nil {
		return err
	}
	byDay := map[string]SealDay{}
	for _, r := range recs {
		byDay[r.Day] = r
	}
	for _, d := range list {
		md := ManifestSealDay{Day: d}
		if r, ok := byDay[d]; ok {
			at := r.SealedAt.UTC()
			md.Digest, md.SealedAt = hex.EncodeToString(r.Digest), &at
			if r.Signature != nil {
				md.Signature = hex.EncodeToString(r.Signature)
				if k := hex.EncodeToString(r.PublicKey); k != m.SealPublicKey {
					md.Key = k
				}
			}
		}
		m.SealDays = append(m.SealDays, md)
	}
	return nil
}

func mustDay(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

// CheckManifestSeals compares the day records an export carries with the
// database's, and checks their signatures: with the key the store expects
// (the one kept offline) when it has one, else with the key the export
// names. It names each day whose seal was rebuilt since the export, is
// gone, or whose signature does not hold.
func (s *Store) CheckManifestSeals(ctx context.Context, m *Manifest) ([]SealProblem, error) {
	var problems []SealProblem
	add := func(day, what string, warning bool) {
		d, _ := time.ParseInLocation(time.DateOnly, day, Beijing)
		problems = append(problems, SealProblem{Kind: "seal_days", Day: d, What: what, Warning: warning})
	}
	for _, md := range m.SealDays {
		if md.Digest == "" {
			continue
		}
		digest, err := hex.DecodeString(md.Digest)
		if err != nil || md.SealedAt == nil {
			return nil, fmt.Errorf("%w: seal of %s: bad digest", ErrBadManifest, md.Day)
		}
		exported := SealDay{Day: md.Day, Digest: digest, SealedAt: *md.SealedAt}
		if md.Signature != "" {
			key := md.Key
			if key == "" {
				key = m.SealPublicKey
			}
			exported.PublicKey, _ = hex.DecodeString(key)
			exported.Signature, _ = hex.DecodeString(md.Signature)
		}
		if what, warn := checkDayRecord(exported, s.sealPub); what != "" {
			add(md.Day, "in the export: "+what, warn)
		}
		recs, err := s.SealDayRecords(ctx, mustDay(md.Day), mustDay(md.Day))
		if err != nil {
			return problems, err
		}
		switch {
		case len(recs) == 0:
			add(md.Day, "missing: the export recorded the day's seal, the database no longer has it", false)
		case !bytes.Equal(recs[0].Digest, digest):
			add(md.Day, fmt.Sprintf("rebuilt: the day's seal in the database (%x) differs from the one the export recorded (%s)", recs[0].Digest, md.Digest), false)
		default:
			if what, warn := checkDayRecord(recs[0], s.sealPub); what != "" && !warn {
				add(md.Day, "in the database: "+what, false)
			}
		}
	}
	return problems, nil
}

// NewManifest builds the manifest of a vehicle's positions in [from, to).
func (s *Store) NewManifest(ctx context.Context, vehicleID int64, plate string, from, to time.Time, by, reason string, at time.Time) (*Manifest, error) {
	return s.Export(ctx, vehicleID, plate, from, to, by, reason, at, func(*ExportRow) error { return nil })
}

// TextLine returns the manifest as one line for a text export:
// ManifestMarker then base64 of its JSON.
func (m *Manifest) TextLine() (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return ManifestMarker + base64.StdEncoding.EncodeToString(b), nil
}

// ErrNoManifest is returned for a file that carries no evidence manifest.
var ErrNoManifest = errors.New("track: no fleetmon evidence manifest in the file")

// ErrBadManifest is returned for a manifest that cannot be read or is not
// self-consistent in its form (counts, digests' syntax).
var ErrBadManifest = errors.New("track: unreadable evidence manifest")

// ReadManifest finds the manifest in an export file of any format.
func ReadManifest(file []byte) (*Manifest, error) {
	if i := bytes.Index(file, []byte(ManifestMarker)); i >= 0 {
		rest := file[i+len(ManifestMarker):]
		end := bytes.IndexFunc(rest, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=')
		})
		if end < 0 {
			end = len(rest)
		}
		b, err := base64.StdEncoding.DecodeString(string(rest[:end]))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
		}
		return decodeManifest(b)
	}
	var doc struct {
		Evidence json.RawMessage `json:"fleetmon_evidence"`
	}
	if json.Unmarshal(file, &doc) == nil && len(doc.Evidence) > 0 {
		return decodeManifest(doc.Evidence)
	}
	return nil, ErrNoManifest
}

func decodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	if m.Format != 1 {
		return nil, fmt.Errorf("%w: format %d not understood", ErrBadManifest, m.Format)
	}
	if m.Rows != len(m.RowDigests) {
		return nil, fmt.Errorf("%w: %d rows announced, %d listed", ErrBadManifest, m.Rows, len(m.RowDigests))
	}
	return &m, nil
}

// Verification is the outcome of checking a manifest against the database.
type Verification struct {
	// Intact is true when every row still matches, none is missing and none
	// was added to what the export covered.
	Intact bool
	// ManifestConsistent is false when the manifest's own digest does not
	// match its row list (the file itself was edited).
	ManifestConsistent bool
	Differences        []Difference
	// CutoffRecorded is true when the manifest says which rows the export
	// could see (Manifest.Cutoff). Without it every row stored in the
	// period since the export counts as "added", as it always did.
	CutoffRecorded bool
	// ReceivedAfter lists the rows in the period stored after the export
	// was read (What "received_after"): no difference, the export could
	// not hold them.
	ReceivedAfter []Difference
}

// Verify recomputes the manifest's rows from the database and compares.
func (s *Store) Verify(ctx context.Context, m *Manifest) (*Verification, error) {
	return s.VerifyWith(ctx, m, nil)
}

// VerifyWith is Verify that also hands every row stored now in the
// manifest's period to fn (when not nil), in export order, so that a caller
// can compare an export file's own lines with what the rows render to. fn's
// argument is reused for the next row.
func (s *Store) VerifyWith(ctx context.Context, m *Manifest, fn func(*ExportRow) error) (*Verification, error) {
	v := &Verification{ManifestConsistent: true, CutoffRecorded: m.Cutoff != nil && m.Cutoff.Snapshot != ""}
	h := sha256.New()
	exported := make([]PositionRow, 0, len(m.RowDigests))
	for _, r := range m.RowDigests {
		d, err := hex.DecodeString(r.Digest)
		if err != nil || len(d) != 32 {
			return nil, fmt.Errorf("%w: row %s: bad digest", ErrBadManifest, r.Time.Format(time.RFC3339))
		}
		h.Write(d)
		exported = append(exported, PositionRow{VehicleID: m.VehicleID, DeviceTime: r.Time, FixHash: r.FixHash, Digest: RowDigest(d)})
	}
	if hex.EncodeToString(h.Sum(nil)) != m.Digest {
		v.ManifestConsistent = false
	}
	type key struct{ t, f int64 }
	late := map[key]bool{}
	var stored []PositionRow
	// The rows and which of them were stored after the export are read in
	// one snapshot: a row arriving in between is then either in both
	// answers or in neither.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if v.CutoffRecorded {
			// A row committed by a transaction the export's snapshot did
			// not see was stored after it. Rows from before commit_xid
			// was recorded (NULL) were there long before any export that
			// records a cut-off.
			rows, err := tx.Query(ctx, `SELECT device_time, fix_hash FROM positions
				WHERE vehicle_id = $1 AND device_time >= $2 AND device_time < $3 AND commit_xid IS NOT NULL
				AND NOT pg_visible_in_snapshot(commit_xid::text::xid8, $4::text::pg_snapshot)`,
				m.VehicleID, m.From, m.To, m.Cutoff.Snapshot)
			if err != nil {
				return fmt.Errorf("rows stored after the export: %w", err)
			}
			var t time.Time
			var f int64
			_, err = pgx.ForEachRow(rows, []any{&t, &f}, func() error {
				late[key{t.UnixMicro(), f}] = true
				return nil
			})
			if err != nil {
				return fmt.Errorf("rows stored after the export: %w", err)
			}
		}
		_, err := exportIn(ctx, tx, m.VehicleID, m.Plate, m.From, m.To, "", "", time.Time{}, func(e *ExportRow) error {
			stored = append(stored, PositionRow{VehicleID: m.VehicleID, DeviceTime: e.DeviceTime, FixHash: e.FixHash, Digest: e.Digest})
			if fn != nil {
				return fn(e)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("verify the export of vehicle %d: %w", m.VehicleID, err)
	}
	for _, d := range CompareDigests(exported, stored) {
		if d.What == "added" && late[key{d.DeviceTime.UnixMicro(), d.FixHash}] {
			d.What = "received_after"
			v.ReceivedAfter = append(v.ReceivedAfter, d)
			continue
		}
		v.Differences = append(v.Differences, d)
	}
	v.Intact = v.ManifestConsistent && len(v.Differences) == 0
	return v, nil
}
