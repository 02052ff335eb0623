package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"time"

	"fleetmon/track"
)

// Verifying an evidence export (POST /api/v1/evidence/verify, and fleetd
// verify FILE): the manifest the file carries is checked against the rows
// stored now (track.Store.VerifyWith: altered, missing or added records,
// and apart from them the rows stored after the export was read), and, for
// the row formats, every position line of the file against the line the
// stored row renders to, so that a file edited by hand (a time or a
// coordinate changed, its manifest left alone) is caught too, each
// difference with the values stored and in the file.

// ExportCheck is the outcome of verifying an export file.
type ExportCheck struct {
	Manifest *track.Manifest
	// Format is the export's format as recognised by its content: csv,
	// geojson, gpx, kml, html, or "" for a file in none of these layouts
	// that carries a manifest (only the manifest is checked).
	Format string
	// Encoding and LineEnding say how the file was found (a spreadsheet
	// that saved a CSV again changes both): see exportFile.
	Encoding, LineEnding string
	track.Verification
	// FileChecked is true for the row formats, whose lines were compared
	// with the stored rows (html carries the manifest only).
	FileChecked bool
	// FileUnchecked says why the file's lines were not compared, when
	// they were not.
	FileUnchecked string
	// FileRows is the number of position lines found in the file.
	FileRows int
	// FileAltered lists the manifest's rows whose line in the file differs
	// from what the stored row renders to (only for rows still stored
	// unchanged: the others are in Differences already).
	FileAltered []track.Difference
	// Fields holds, for the rows altered in the database or in the file,
	// the values that differ between the stored row and the file's line.
	Fields map[rowKey][]FieldDiff
	// SealProblems names the days whose signed seal the export recorded
	// and the database no longer matches (rebuilt, gone, a signature that
	// does not hold), and, as warnings, seals that were unsigned.
	SealProblems []track.SealProblem
	// Tip is the check of the tip case the export carries (nil: none).
	Tip *TipCaseCheck
}

// rowKey names a position: its device time (Unix microseconds) and fix
// hash.
type rowKey struct{ t, f int64 }

// FieldsOf returns the values of d's row that differ between the database
// and the file (none known: nil).
func (c *ExportCheck) FieldsOf(d track.Difference) []FieldDiff {
	return c.Fields[rowKey{d.DeviceTime.UnixMicro(), d.FixHash}]
}

// Intact reports whether the file and the database still agree entirely
// (rows stored after the export are no disagreement).
func (c *ExportCheck) Intact() bool {
	for _, p := range c.SealProblems {
		if !p.Warning {
			return false
		}
	}
	if c.Tip != nil && len(c.Tip.Problems) > 0 {
		return false
	}
	return c.Verification.Intact && len(c.FileAltered) == 0 && (!c.FileChecked || c.FileRows == c.Manifest.Rows)
}

// VerifyExport checks an export file against the database. scope, when not
// nil, is called with the manifest before anything is read: it returns an
// error to refuse (the caller's jurisdiction, say).
func VerifyExport(ctx context.Context, st *track.Store, file []byte, scope func(*track.Manifest) error) (*ExportCheck, error) {
	m, err := track.ReadManifest(file)
	if err != nil {
		return nil, err
	}
	ef := readExportFile(file)
	c := &ExportCheck{Manifest: m, Format: ef.Format, Encoding: ef.Encoding, LineEnding: ef.LineEnding, Fields: map[rowKey][]FieldDiff{}}
	if scope != nil {
		if err := scope(m); err != nil {
			return nil, err
		}
	}
	rendered := map[rowKey][]byte{}
	digests := map[rowKey]track.RowDigest{}
	switch c.Format {
	case "html":
		c.FileUnchecked = "the HTML report holds no position lines: its manifest only was checked"
	case "":
		c.FileUnchecked = "the file is in none of the export layouts (CSV, GeoJSON, GPX, KML, HTML): its manifest only was checked"
	default:
		c.FileChecked = true
	}
	var buf []byte
	var fn func(*track.ExportRow) error
	if c.FileChecked {
		n := 0
		fn = func(e *track.ExportRow) error {
			k := rowKey{e.DeviceTime.UnixMicro(), e.FixHash}
			// The row's place in the manifest decides GeoJSON's leading
			// comma; rows added since are not in the file anyway.
			buf = appendExportRow(buf[:0], c.Format, e, n == 0)
			rendered[k] = bytes.TrimRight(bytes.Clone(buf), "\n")
			digests[k] = e.Digest
			n++
			return nil
		}
	}
	v, err := st.VerifyWith(ctx, m, fn)
	if err != nil {
		return nil, err
	}
	c.Verification = *v
	if c.SealProblems, err = st.CheckManifestSeals(ctx, m); err != nil {
		return nil, err
	}
	if c.Tip, err = CheckTipCase(ctx, st.Pool(), m, file); err != nil {
		return nil, err
	}
	if !c.FileChecked {
		return c, nil
	}
	lines := ef.rowLines()
	c.FileRows = len(lines)
	for i, r := range m.RowDigests {
		if i >= len(lines) {
			break
		}
		k := rowKey{r.Time.UnixMicro(), r.FixHash}
		want, ok := rendered[k]
		if !ok {
			continue // missing in the database: already a difference
		}
		got := lines[i]
		if c.Format == "geojson" {
			// Only the first feature goes without a comma.
			got, want = bytes.TrimPrefix(got, []byte(",")), bytes.TrimPrefix(want, []byte(","))
		}
		d := digests[k]
		if bytes.Equal(got, want) {
			continue
		}
		c.Fields[k] = fieldDiffs(c.Format, want, got)
		if hex.EncodeToString(d[:]) == r.Digest {
			c.FileAltered = append(c.FileAltered, track.Difference{VehicleID: m.VehicleID, DeviceTime: r.Time, FixHash: r.FixHash, What: "file_altered"})
		}
	}
	return c, nil
}

// maxEvidenceBytes bounds an uploaded export: 30 days at 10 s is ~70 MB
// of CSV with its manifest; a year of a parked-mostly car is less.
const maxEvidenceBytes = 256 << 20

// verifyDifferencesShown bounds the differences listed in the answer
// (all are counted).
const verifyDifferencesShown = 1000

type differenceJSON struct {
	Time    string `json:"time"`
	FixHash int64  `json:"fix_hash"`
	// What is altered, missing or added (the database changed since the
	// export), file_altered (the file's line was edited), or, in the list
	// of rows stored after the export, received_after.
	What string `json:"what"`
	// Fields are the values that differ, stored against file, when the
	// file's line for the row was compared.
	Fields []FieldDiff `json:"fields,omitempty"`
}

// sealProblemJSON is one day whose seal no longer matches the export's.
type sealProblemJSON struct {
	Day     string `json:"day"`
	Table   string `json:"table"`
	What    string `json:"what"`
	Warning bool   `json:"warning"`
}

// verifyEvidence checks an uploaded export (the file as the request body,
// any content type) against the database: ?reason= is required, the
// export's vehicle must be in the caller's jurisdiction (else 404), and the
// check is audited (evidence.verify) with the vehicle, the period and the
// SHA-256 of the file.
func (s *Server) verifyEvidence(w http.ResponseWriter, r *http.Request) {
	reason, ok := reasonOf(w, r, true)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	// A large file on a slow link takes longer than an ordinary request.
	_ = rc.SetReadDeadline(time.Now().Add(10 * time.Minute))
	_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Minute))
	file, err := io.ReadAll(io.LimitReader(r.Body, maxEvidenceBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than 256 MiB")
			return
		}
		writeError(w, r, http.StatusBadRequest, "bad_request", "the file could not be read")
		return
	}
	if len(file) > maxEvidenceBytes {
		writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than 256 MiB")
		return
	}
	sum := sha256.Sum256(file)
	p := principal(r)
	var v track.Vehicle
	c, err := VerifyExport(r.Context(), s.store, file, func(m *track.Manifest) error {
		var err error
		if v, err = s.store.VehicleIn(r.Context(), p.Scope(), m.VehicleID); err != nil {
			return err
		}
		return s.auditFirst(r, Entry{Action: "evidence.verify", VehicleID: v.ID, SubjectUnitID: v.UnitID, From: m.From, To: m.To,
			Reason: reason, Detail: map[string]any{"plate": v.Plate, "file_sha256": hex.EncodeToString(sum[:]),
				"manifest_digest": m.Digest, "exported_at": formatTime(m.ExportedAt), "exported_by": m.ExportedBy}})
	})
	switch {
	case errors.Is(err, track.ErrNoManifest):
		writeError(w, r, http.StatusUnprocessableEntity, "not_evidence", "the file carries no fleetmon evidence manifest")
		return
	case errors.Is(err, track.ErrBadManifest):
		writeError(w, r, http.StatusUnprocessableEntity, "not_evidence", "the file's evidence manifest cannot be read")
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	m := c.Manifest
	out := struct {
		Intact             bool   `json:"intact"`
		ManifestConsistent bool   `json:"manifest_consistent"`
		FileChecked        bool   `json:"file_checked"`
		FileUnchecked      string `json:"file_unchecked,omitempty"`
		Format             string `json:"format"`
		Encoding           string `json:"encoding"`
		LineEnding         string `json:"line_ending"`
		VehicleID          int64  `json:"vehicle_id"`
		Plate              string `json:"plate"`
		From               string `json:"from"`
		To                 string `json:"to"`
		Rows               int    `json:"rows"`
		FileRows           *int   `json:"file_rows"`
		ExportedAt         string `json:"exported_at"`
		ExportedBy         string `json:"exported_by"`
		Reason             string `json:"reason"`
		Digest             string `json:"digest"`
		// CutoffRecorded is false for an export made before manifests
		// said which rows they could see: rows stored since in its period
		// are then differences ("added"), as they always were.
		CutoffRecorded bool `json:"cutoff_recorded"`
		// ReceivedThrough is the latest reception time among the rows the
		// export holds.
		ReceivedThrough    string            `json:"received_through,omitempty"`
		DifferencesTotal   int               `json:"differences_total"`
		Differences        []differenceJSON  `json:"differences"`
		ReceivedAfterTotal int               `json:"received_after_total"`
		ReceivedAfter      []differenceJSON  `json:"received_after"`
		SealProblems       []sealProblemJSON `json:"seal_problems"`
		Tip                *TipCaseCheck     `json:"tip,omitempty"`
	}{Tip: c.Tip, Intact: c.Intact(), ManifestConsistent: c.ManifestConsistent, FileChecked: c.FileChecked, FileUnchecked: c.FileUnchecked,
		Format: c.Format, Encoding: c.Encoding, LineEnding: c.LineEnding,
		VehicleID: m.VehicleID, Plate: v.Plate, From: formatTime(m.From), To: formatTime(m.To), Rows: m.Rows,
		ExportedAt: formatTime(m.ExportedAt), ExportedBy: m.ExportedBy, Reason: m.Reason, Digest: m.Digest,
		CutoffRecorded: c.CutoffRecorded, Differences: []differenceJSON{}, ReceivedAfter: []differenceJSON{}, SealProblems: []sealProblemJSON{}}
	if m.Cutoff != nil && m.Cutoff.ReceivedThrough != nil {
		out.ReceivedThrough = formatTime(*m.Cutoff.ReceivedThrough)
	}
	for _, p := range c.SealProblems {
		out.SealProblems = append(out.SealProblems, sealProblemJSON{Day: p.Day.Format(time.DateOnly), Table: p.Kind, What: p.What, Warning: p.Warning})
	}
	if c.FileChecked {
		out.FileRows = &c.FileRows
	}
	for _, d := range append(c.Differences, c.FileAltered...) {
		out.DifferencesTotal++
		if len(out.Differences) < verifyDifferencesShown {
			out.Differences = append(out.Differences, differenceJSON{Time: formatTime(d.DeviceTime), FixHash: d.FixHash, What: d.What, Fields: c.FieldsOf(d)})
		}
	}
	for _, d := range c.ReceivedAfter {
		out.ReceivedAfterTotal++
		if len(out.ReceivedAfter) < verifyDifferencesShown {
			out.ReceivedAfter = append(out.ReceivedAfter, differenceJSON{Time: formatTime(d.DeviceTime), FixHash: d.FixHash, What: d.What})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
