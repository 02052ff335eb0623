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
// stored now (track.Store.VerifyWith: altered, missing or added records),
// and, for the row formats, every position line of the file against the line
// the stored row renders to, so that a file edited by hand (a time or a
// coordinate changed, its manifest left alone) is caught too.

// ExportCheck is the outcome of verifying an export file.
type ExportCheck struct {
	Manifest *track.Manifest
	// Format is the export's format as recognised: csv, geojson, gpx, kml,
	// html, or "" for a file in none of these layouts that carries a
	// manifest (only the manifest is checked).
	Format string
	track.Verification
	// FileChecked is true for the row formats, whose lines were compared
	// with the stored rows (html carries the manifest only).
	FileChecked bool
	// FileRows is the number of position lines found in the file.
	FileRows int
	// FileAltered lists the manifest's rows whose line in the file differs
	// from what the stored row renders to (only for rows still stored
	// unchanged: the others are in Differences already).
	FileAltered []track.Difference
	// SealProblems names the days whose signed seal the export recorded
	// and the database no longer matches (rebuilt, gone, a signature that
	// does not hold), and, as warnings, seals that were unsigned.
	SealProblems []track.SealProblem
}

// Intact reports whether the file and the database still agree entirely.
func (c *ExportCheck) Intact() bool {
	for _, p := range c.SealProblems {
		if !p.Warning {
			return false
		}
	}
	return c.Verification.Intact && len(c.FileAltered) == 0 && (!c.FileChecked || c.FileRows == c.Manifest.Rows)
}

// exportFormat recognises an export's format by its first bytes.
func exportFormat(file []byte) string {
	head := file[:min(len(file), 512)]
	switch {
	case bytes.HasPrefix(head, []byte("\ufeffdevice_time,")):
		return "csv"
	case bytes.HasPrefix(head, []byte(`{"type":"FeatureCollection"`)):
		return "geojson"
	case bytes.Contains(head, []byte("<gpx ")):
		return "gpx"
	case bytes.Contains(head, []byte("<kml ")):
		return "kml"
	case bytes.HasPrefix(head, []byte("<!DOCTYPE html>")):
		return "html"
	}
	return ""
}

// exportRowLines returns the position lines of a row-format export, each
// with its newline, in file order.
func exportRowLines(file []byte, format string) [][]byte {
	var out [][]byte
	inCoords := false
	for len(file) > 0 {
		i := bytes.IndexByte(file, '\n')
		var line []byte
		if i < 0 {
			line, file = file, nil
		} else {
			line, file = file[:i+1], file[i+1:]
		}
		switch format {
		case "csv":
			// Comments start with # (quoted, "#, where they hold a comma).
			if !bytes.HasPrefix(line, []byte("#")) && !bytes.HasPrefix(line, []byte(`"#`)) && !bytes.HasPrefix(line, []byte("\ufeff")) &&
				len(bytes.TrimSpace(line)) > 0 {
				out = append(out, line)
			}
		case "geojson":
			if bytes.HasPrefix(bytes.TrimPrefix(line, []byte(",")), []byte(`{"type":"Feature",`)) {
				out = append(out, line)
			}
		case "gpx":
			if bytes.HasPrefix(line, []byte("<trkpt ")) {
				out = append(out, line)
			}
		case "kml":
			switch {
			case bytes.Contains(line, []byte("<LineString>")):
				inCoords = true
			case bytes.HasPrefix(line, []byte("</coordinates>")):
				inCoords = false
			case inCoords:
				out = append(out, line)
			}
		}
	}
	return out
}

// VerifyExport checks an export file against the database. scope, when not
// nil, is called with the manifest before anything is read: it returns an
// error to refuse (the caller's jurisdiction, say).
func VerifyExport(ctx context.Context, st *track.Store, file []byte, scope func(*track.Manifest) error) (*ExportCheck, error) {
	m, err := track.ReadManifest(file)
	if err != nil {
		return nil, err
	}
	c := &ExportCheck{Manifest: m, Format: exportFormat(file)}
	if scope != nil {
		if err := scope(m); err != nil {
			return nil, err
		}
	}
	type key struct{ t, f int64 }
	rendered := map[key][]byte{}
	digests := map[key]track.RowDigest{}
	c.FileChecked = c.Format != "html" && c.Format != ""
	var buf []byte
	var fn func(*track.ExportRow) error
	if c.FileChecked {
		n := 0
		fn = func(e *track.ExportRow) error {
			k := key{e.DeviceTime.UnixMicro(), e.FixHash}
			// The row's place in the manifest decides GeoJSON's leading
			// comma; rows added since are not in the file anyway.
			buf = appendExportRow(buf[:0], c.Format, e, n == 0)
			rendered[k] = bytes.Clone(buf)
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
	if !c.FileChecked {
		return c, nil
	}
	lines := exportRowLines(file, c.Format)
	c.FileRows = len(lines)
	for i, r := range m.RowDigests {
		if i >= len(lines) {
			break
		}
		k := key{r.Time.UnixMicro(), r.FixHash}
		want, ok := rendered[k]
		d := digests[k]
		if !ok || hex.EncodeToString(d[:]) != r.Digest {
			continue // missing or altered in the database: already a difference
		}
		got := lines[i]
		if c.Format == "geojson" {
			// Only the first feature goes without a comma.
			got, want = bytes.TrimPrefix(got, []byte(",")), bytes.TrimPrefix(want, []byte(","))
		}
		if !bytes.Equal(bytes.TrimRight(got, "\r\n"), bytes.TrimRight(want, "\r\n")) {
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
	// export), or file_altered (the file's line was edited).
	What string `json:"what"`
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
		Intact             bool              `json:"intact"`
		ManifestConsistent bool              `json:"manifest_consistent"`
		FileChecked        bool              `json:"file_checked"`
		Format             string            `json:"format"`
		VehicleID          int64             `json:"vehicle_id"`
		Plate              string            `json:"plate"`
		From               string            `json:"from"`
		To                 string            `json:"to"`
		Rows               int               `json:"rows"`
		FileRows           *int              `json:"file_rows"`
		ExportedAt         string            `json:"exported_at"`
		ExportedBy         string            `json:"exported_by"`
		Reason             string            `json:"reason"`
		Digest             string            `json:"digest"`
		DifferencesTotal   int               `json:"differences_total"`
		Differences        []differenceJSON  `json:"differences"`
		SealProblems       []sealProblemJSON `json:"seal_problems"`
	}{Intact: c.Intact(), ManifestConsistent: c.ManifestConsistent, FileChecked: c.FileChecked, Format: c.Format,
		VehicleID: m.VehicleID, Plate: v.Plate, From: formatTime(m.From), To: formatTime(m.To), Rows: m.Rows,
		ExportedAt: formatTime(m.ExportedAt), ExportedBy: m.ExportedBy, Reason: m.Reason, Digest: m.Digest,
		Differences: []differenceJSON{}, SealProblems: []sealProblemJSON{}}
	for _, p := range c.SealProblems {
		out.SealProblems = append(out.SealProblems, sealProblemJSON{Day: p.Day.Format(time.DateOnly), Table: p.Kind, What: p.What, Warning: p.Warning})
	}
	if c.FileChecked {
		out.FileRows = &c.FileRows
	}
	for _, d := range append(c.Differences, c.FileAltered...) {
		out.DifferencesTotal++
		if len(out.Differences) < verifyDifferencesShown {
			out.Differences = append(out.Differences, differenceJSON{Time: formatTime(d.DeviceTime), FixHash: d.FixHash, What: d.What})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
