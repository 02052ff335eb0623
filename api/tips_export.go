package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/track"
)

// A tip's case as evidence: the car's track around the time alleged as an
// evidence CSV (its positions and alerts, with the manifest fleetd verify
// checks them by), carrying the case itself as comment lines: what the
// caller said (the number masked) and every step to the export, closed by
// a marker naming the tip, its steps and their digest. Verifying the file
// renders the case again from the database and compares it line by line.

// TipMarker starts the line that closes a tip case in an export.
const TipMarker = "fleetmon-tip:"

// tipMark is the marker's content.
type tipMark struct {
	TipID  int64  `json:"tip_id"`
	Steps  int    `json:"steps"`
	SHA256 string `json:"sha256"`
}

// TipCaseCheck is the outcome of checking a tip case carried by an
// export.
type TipCaseCheck struct {
	TipID    int64    `json:"tip_id"`
	Steps    int      `json:"steps"`
	Problems []string `json:"problems"`
}

// exportTip serves GET /api/v1/tips/{id}/export?reason=: the case as an
// evidence CSV of its car's track over the time alleged and tipWindow
// either side. The tip needs a car (named, or named when passed to the
// unit). Audited before a byte is sent, as every export.
func (s *Server) exportTip(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	reason, ok := reasonOf(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	p := principal(r)
	t, err := s.tipIn(ctx, s.pool, p.Scope(), id, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if t.VehicleID == 0 {
		writeError(w, r, http.StatusConflict, "no_vehicle", "the tip names no car yet: name it when passing the tip to the unit")
		return
	}
	v, err := s.store.VehicleIn(ctx, p.Scope(), t.VehicleID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.tipEvents(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines, mark := tipCaseLines(&t, events)
	from, to := t.from.Add(-tipWindow), t.to.Add(tipWindow)
	if err := s.auditFirst(r, Entry{Action: "tip.export", VehicleID: v.ID, SubjectUnitID: t.UnitID, From: from, To: to, Reason: reason,
		Detail: map[string]any{"tip_id": t.ID, "steps": mark.Steps, "case_sha256": mark.SHA256, "format": "csv"}}); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="tip-%d-%s.csv"`, t.ID, from.In(cst).Format("20060102T150405")))
	bw := bufio.NewWriterSize(w, 64<<10)
	err = s.exportStream(r, bw, "csv", v, from, to, p.Name, reason, s.cfg.Now(), tipCaseNotes(lines, mark)...)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		s.log.Error("api: tip export", "request_id", requestID(r), "tip", t.ID, "err", err)
		panic(http.ErrAbortHandler) // a cut-off file, never a complete-looking partial one
	}
}

// tipCaseLines renders a tip's case as the comment lines of its export,
// the marker last. Only what never changes is rendered (what was said,
// and the steps), so that the same tip renders the same lines later.
func tipCaseLines(t *tipRow, events []tipEventJSON) ([]string, tipMark) {
	one := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	lines := []string{
		fmt.Sprintf("tip #%d 举报: received %s by %s, caller %s", t.ID, t.ReceivedAt, t.Channel, maskCaller(t.caller)),
		fmt.Sprintf("tip #%d plate: %s", t.ID, cmp(t.PlateText, "(unsure 不确定)")),
		fmt.Sprintf("tip #%d alleged: %s – %s at %s", t.ID, t.From, t.To, one(cmp(t.PlaceText, "(drawn on the map)"))),
		fmt.Sprintf("tip #%d content: %s", t.ID, one(t.Content)),
	}
	for i, e := range events {
		d, _ := json.Marshal(e.Detail)
		lines = append(lines, fmt.Sprintf("tip #%d step %d: %s %s %s (%s → %s) %s %s", t.ID, i+1, e.At, e.User, e.Action,
			cmp(e.From, "-"), e.To, one(e.Reason), d))
	}
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return lines, tipMark{TipID: t.ID, Steps: len(events), SHA256: hex.EncodeToString(sum[:])}
}

// tipCaseNotes are the lines exportStream writes for a case: its lines,
// then the marker.
func tipCaseNotes(lines []string, m tipMark) []string {
	b, _ := json.Marshal(m)
	return append(lines, TipMarker+string(b))
}

// CheckTipCase checks the tip case an export carries (none: nil) against
// the database: the tip must be about the manifest's car, and it and its
// steps as stored now must render the lines the file holds.
func CheckTipCase(ctx context.Context, pool *pgxpool.Pool, m0 *track.Manifest, file []byte) (*TipCaseCheck, error) {
	i := bytes.Index(file, []byte(TipMarker))
	if i < 0 {
		return nil, nil
	}
	end := bytes.IndexAny(file[i:], "\r\n")
	if end < 0 {
		end = len(file) - i
	}
	raw := bytes.TrimRight(file[i+len(TipMarker):i+end], `"`)
	var m tipMark
	if err := json.Unmarshal(bytes.ReplaceAll(raw, []byte(`""`), []byte(`"`)), &m); err != nil || m.TipID <= 0 {
		return &TipCaseCheck{Problems: []string{"the tip marker cannot be read (the file was edited)"}}, nil
	}
	c := &TipCaseCheck{TipID: m.TipID, Steps: m.Steps, Problems: []string{}}
	t, err := loadTip(ctx, pool, track.All, m.TipID, false, time.Now())
	if errors.Is(err, track.ErrNotFound) {
		c.Problems = append(c.Problems, fmt.Sprintf("tip #%d is not in the database", m.TipID))
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	// The export's positions are its car's: a case about another car is
	// not this file's (nor, through the API, within what its vehicle's
	// jurisdiction lets the caller check).
	if t.VehicleID != m0.VehicleID {
		c.Problems = append(c.Problems, fmt.Sprintf("tip #%d is about another car than the export's positions (vehicle %d)", m.TipID, m0.VehicleID))
		return c, nil
	}
	events, err := loadTipEvents(ctx, pool, m.TipID)
	if err != nil {
		return nil, err
	}
	if len(events) < m.Steps {
		c.Problems = append(c.Problems, fmt.Sprintf("tip #%d has %d steps stored, the export %d: steps were removed", m.TipID, len(events), m.Steps))
		return c, nil
	}
	lines, mark := tipCaseLines(&t, events[:m.Steps])
	if mark.SHA256 != m.SHA256 {
		c.Problems = append(c.Problems, fmt.Sprintf("tip #%d as stored now does not render the case the export recorded (the record was changed, or the marker edited)", m.TipID))
	}
	var buf bytes.Buffer
	text := strings.ReplaceAll(string(file), "\r\n", "\n")
	for k, l := range lines {
		buf.Reset()
		cw := newCSVWriter(&buf)
		_ = cw.Write([]string{"# " + l})
		cw.Flush()
		if !strings.Contains(text, buf.String()) {
			c.Problems = append(c.Problems, fmt.Sprintf("tip #%d: line %d of the case is not in the file as stored: %s", m.TipID, k+1, l))
		}
	}
	return c, nil
}
