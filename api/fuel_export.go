package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// The leads as a CSV that carries its own manifest, for the file an
// inspector hands to the discipline commission: every lead's facts (the
// fill, the kind, the figures) are digested, so that `fleetd verify FILE`
// tells a file edited by hand, or a database changed since, from the
// export as made. What moves on legitimately after an export (a lead's
// verification, a plate or a unit renamed, leads found by a later run) is
// said, and is no difference.

// maxExportLeads bounds one export, as for alerts.
const maxExportLeads = 20000

// LeadsManifestMarker starts the manifest line of a leads export.
const LeadsManifestMarker = "# fleetmon-fuel-leads: "

// leadColumns are the export's columns; the first leadDigested are the
// lead's facts, which the digest covers.
var leadColumns = []string{"lead", "vehicle_id", "kind", "card", "time", "station", "product", "litres", "amount", "figures",
	"plate", "unit", "verification"}

const leadDigested = 10

// LeadsManifest is the manifest of a leads export.
type LeadsManifest struct {
	Format     int       `json:"format"` // 1
	Unit       int64     `json:"unit"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Vehicle    int64     `json:"vehicle,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	ExportedAt time.Time `json:"exported_at"`
	ExportedBy string    `json:"exported_by"`
	Reason     string    `json:"reason"`
	Rows       []LeadRow `json:"rows"`
	// Digest is SHA-256 over the rows' digests in order (hex).
	Digest string `json:"digest"`
}

// LeadRow is one lead of a manifest and the digest of its facts.
type LeadRow struct {
	ID     int64  `json:"id"`
	Digest string `json:"digest"`
}

// leadRecord renders a lead as the export's record.
func leadRecord(l fuelLeadJSON) []string {
	return []string{strconv.FormatInt(l.ID, 10), strconv.FormatInt(l.VehicleID, 10), l.Kind, l.Card, l.At, l.Station, l.Product,
		strconv.FormatFloat(l.Litres, 'f', 2, 64), strconv.FormatFloat(l.Amount, 'f', 2, 64), string(l.Figures),
		l.Plate, l.Unit, l.Verification}
}

// factsDigest is the digest of a record's facts (hex).
func factsDigest(rec []string) string {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	_ = cw.Write(rec[:leadDigested])
	cw.Flush()
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// manifestDigest is the digest over the rows' digests.
func (m *LeadsManifest) manifestDigest() string {
	h := sha256.New()
	for _, r := range m.Rows {
		fmt.Fprintf(h, "%d %s\n", r.ID, r.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// exportLeads serves GET /api/v1/fuel/leads/export (the list's filters,
// ?reason= required of inspectors): a UTF-8 CSV with its manifest last.
func (s *Server) exportLeads(w http.ResponseWriter, r *http.Request) {
	reason, ok := reasonOf(w, r, false)
	if !ok {
		return
	}
	q, ok := s.leadQueryOf(w, r)
	if !ok {
		return
	}
	if q.from.IsZero() || q.to.IsZero() {
		writeError(w, r, http.StatusBadRequest, "bad_request", "month: want YYYY-MM (or from and to)")
		return
	}
	ls, total, err := s.leads(r.Context(), q, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if total > maxExportLeads {
		writeError(w, r, http.StatusBadRequest, "too_many_leads", fmt.Sprintf("more than %d leads: narrow the filters", maxExportLeads))
		return
	}
	p := principal(r)
	m := LeadsManifest{Format: 1, Unit: q.scope.Root, From: q.from, To: q.to, Vehicle: q.vehicle, Kind: q.kind,
		ExportedAt: s.cfg.Now(), ExportedBy: p.Name, Reason: reason, Rows: []LeadRow{}}
	var body bytes.Buffer
	body.WriteString("\ufeff")
	cw := newCSVWriter(&body)
	_ = cw.Write(slices.Clone(leadColumns))
	for _, l := range ls {
		rec := leadRecord(l)
		m.Rows = append(m.Rows, LeadRow{ID: l.ID, Digest: factsDigest(rec)})
		_ = cw.Write(rec)
	}
	cw.Flush()
	m.Digest = m.manifestDigest()
	mj, err := json.Marshal(m)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body.WriteString(LeadsManifestMarker)
	body.Write(mj)
	body.WriteString("\n")
	if err := s.auditFirst(r, Entry{Action: "fuel.leads_export", SubjectUnitID: q.scope.Root, From: q.from, To: q.to, Reason: reason,
		Detail: map[string]any{"leads": len(ls), "manifest_digest": m.Digest}}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="fuel-leads-%s.csv"`, q.from.In(cst).Format("2006-01")))
	_, _ = w.Write(body.Bytes())
}

// ErrNoLeadsManifest says a file carries no leads manifest.
var ErrNoLeadsManifest = errors.New("api: no fleetmon fuel-leads manifest in the file")

// IsLeadsExport reports whether file is a leads export (it carries the
// manifest line).
func IsLeadsExport(file []byte) bool {
	text, _ := decodeText(file)
	return bytes.Contains(text, []byte("\n"+LeadsManifestMarker))
}

// LeadDifference is a lead of the export that no longer agrees.
type LeadDifference struct {
	ID int64
	// What is missing (the lead is gone from the database), altered (its
	// facts in the database changed), or file_altered (the file's line
	// was edited).
	What string
}

// LeadsCheck is the outcome of verifying a leads export.
type LeadsCheck struct {
	Manifest           *LeadsManifest
	Encoding           string
	ManifestConsistent bool
	Differences        []LeadDifference
	// FileRows is the number of lead lines in the file.
	FileRows int
	// Added lists leads of the export's selection found since (by a
	// later matching run): not in the file, and no difference.
	Added []int64
	// Moved lists leads whose verification, plate or unit changed since
	// the export: the work went on, and no difference.
	Moved []int64
}

// Intact reports whether the file and the database still agree.
func (c *LeadsCheck) Intact() bool {
	return c.ManifestConsistent && len(c.Differences) == 0 && c.FileRows == len(c.Manifest.Rows)
}

// VerifyLeadsExport checks a leads export against the database.
func VerifyLeadsExport(ctx context.Context, pool *pgxpool.Pool, file []byte) (*LeadsCheck, error) {
	text, enc := decodeText(file)
	c := &LeadsCheck{Encoding: enc}
	i := bytes.Index(text, []byte("\n"+LeadsManifestMarker))
	if i < 0 {
		return nil, ErrNoLeadsManifest
	}
	line, _, _ := bytes.Cut(text[i+1+len(LeadsManifestMarker):], []byte("\n"))
	var m LeadsManifest
	if err := json.Unmarshal(bytes.TrimRight(line, "\r"), &m); err != nil || m.Format != 1 {
		return nil, fmt.Errorf("%w: unreadable manifest", ErrNoLeadsManifest)
	}
	c.Manifest = &m
	c.ManifestConsistent = m.manifestDigest() == m.Digest
	cr := csv.NewReader(bytes.NewReader(text[:i+1]))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read the file's lines: %w", err)
	}
	fileDigest := map[int64]string{}
	fileRecs := map[int64][]string{}
	for _, rec := range recs[min(1, len(recs)):] {
		if len(rec) != len(leadColumns) {
			continue
		}
		c.FileRows++
		// The export neutralised cells that would start a formula.
		for j := range rec {
			if csvCell(strings.TrimPrefix(rec[j], "'")) == rec[j] {
				rec[j] = strings.TrimPrefix(rec[j], "'")
			}
		}
		if id, err := strconv.ParseInt(rec[0], 10, 64); err == nil {
			fileDigest[id] = factsDigest(rec)
			fileRecs[id] = rec
		}
	}
	s := &Server{pool: pool}
	ls, _, err := s.leads(ctx, leadQuery{scope: track.Scope{Root: m.Unit}, from: m.From, to: m.To, vehicle: m.Vehicle, kind: m.Kind}, false)
	if err != nil {
		return nil, err
	}
	stored := map[int64][]string{}
	for _, l := range ls {
		stored[l.ID] = leadRecord(l)
	}
	inManifest := map[int64]bool{}
	for _, row := range m.Rows {
		inManifest[row.ID] = true
		rec, ok := stored[row.ID]
		switch {
		case !ok:
			c.Differences = append(c.Differences, LeadDifference{row.ID, "missing"})
		case factsDigest(rec) != row.Digest:
			c.Differences = append(c.Differences, LeadDifference{row.ID, "altered"})
		case fileDigest[row.ID] != row.Digest:
			c.Differences = append(c.Differences, LeadDifference{row.ID, "file_altered"})
		case !slices.Equal(rec[leadDigested:], fileRecs[row.ID][leadDigested:]):
			c.Moved = append(c.Moved, row.ID)
		}
	}
	for _, l := range ls {
		if !inManifest[l.ID] {
			c.Added = append(c.Added, l.ID)
		}
	}
	return c, nil
}
