package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Explanations (情况说明): when an alert's unit has been asked to explain
// it, whoever verifies it records the unit's answer, as text and, usually,
// a scan of the signed statement. The scan is evidence: its type is judged
// by its content, never by its name or the uploader's header (an HTML page
// named .pdf would otherwise be served back to an inspector), it is stored
// with its SHA-256 digest, and the table keeps every version (migration
// 0018 makes it append-only).

// maxAttachmentBytes bounds a scan: a few pages of a statement at 300 dpi
// as a PDF or JPEG. Larger files are refused rather than stored in part.
const maxAttachmentBytes = 4 << 20

// attachmentTypes are the types a scan may have, as http.DetectContentType
// names them from the file's first bytes.
var attachmentTypes = []string{"application/pdf", "image/png", "image/jpeg"}

// maxFileName bounds a scan's file name, in characters.
const maxFileName = 200

// auditExplanation is the audit action of recording an explanation; it
// shares auditVerification's detail (alert_id, action, from, to) so that
// it reads as a step of the alert's history.
const auditExplanation = auditVerification

// explainAlert serves POST /api/v1/alerts/{id}/explanations: a
// multipart/form-data body with "text" and an optional "file". The alert
// must wait for an explanation (explanation_requested); it stays there
// until it is confirmed or dismissed.
func (s *Server) explainAlert(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		writeError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the explanation as multipart/form-data with text and file")
		return
	}
	// The text and the parts' headers fit in the margin.
	r.Body = http.MaxBytesReader(w, r.Body, maxAttachmentBytes+64<<10)
	text, name, content, ok := s.readExplanation(w, r)
	if !ok {
		return
	}
	var ctype string
	var digest []byte
	if content != nil {
		if ctype, ok = sniffAttachment(w, r, content); !ok {
			return
		}
		sum := sha256.Sum256(content)
		digest = sum[:]
	}
	if text == "" && content == nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "text or file: an explanation needs one of them")
		return
	}
	p := principal(r)
	e, ok := s.verifiableAlert(w, r)
	if !ok {
		return
	}
	waiting := alerts.VerificationExplanationRequested
	err = s.change(r, func(c changeTx) (Entry, error) {
		var id int64
		_, err := c.alerts.TransitionVerification(r.Context(), e.ID, []alerts.Verification{waiting}, waiting, func(tx pgx.Tx, _ alerts.Verification) error {
			return tx.QueryRow(r.Context(), `INSERT INTO alert_explanations (episode_id, vehicle_id, body, file_name, content_type, sha256, content, actor_id, actor_name)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
				e.ID, e.VehicleID, text, nullString(name), nullString(ctype), digest, content, nullID(p.ID), p.Name).Scan(&id)
		})
		detail := map[string]any{"alert_id": e.ID, "rule": string(e.Rule), "action": "explain",
			"from": string(waiting), "to": string(waiting), "explanation_id": id}
		if content != nil {
			detail["file_name"], detail["content_type"], detail["size"], detail["sha256"] = name, ctype, len(content), hex.EncodeToString(digest)
		}
		return Entry{Action: auditExplanation, VehicleID: e.VehicleID, SubjectUnitID: e.UnitID, Reason: text, Detail: detail}, err
	})
	if errors.Is(err, alerts.ErrVerificationState) {
		s.refuseStep(w, r, "explain", e.ID)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.getAlert(w, r)
}

// readExplanation reads the form's parts: text (at most
// maxVerificationReason characters) and file (at most maxAttachmentBytes).
// It answers the client itself on error.
func (s *Server) readExplanation(w http.ResponseWriter, r *http.Request) (text, name string, content []byte, ok bool) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", "the body could not be read")
		return "", "", nil, false
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", nil, s.bodyError(w, r, err)
		}
		switch part.FormName() {
		case "text":
			b, err := io.ReadAll(io.LimitReader(part, 4*maxVerificationReason+1))
			if err != nil {
				return "", "", nil, s.bodyError(w, r, err)
			}
			text = strings.TrimSpace(string(b))
			if !validText(text) {
				writeBadText(w, r, "text")
				return "", "", nil, false
			}
			if utf8.RuneCountInString(text) > maxVerificationReason {
				writeError(w, r, http.StatusBadRequest, "bad_request", fmt.Sprintf("text: at most %d characters", maxVerificationReason))
				return "", "", nil, false
			}
		case "file":
			b, err := io.ReadAll(io.LimitReader(part, maxAttachmentBytes+1))
			if err != nil {
				return "", "", nil, s.bodyError(w, r, err)
			}
			if len(b) > maxAttachmentBytes {
				writeError(w, r, http.StatusRequestEntityTooLarge, "attachment_too_large",
					fmt.Sprintf("file: at most %d MiB", maxAttachmentBytes>>20))
				return "", "", nil, false
			}
			if len(b) == 0 {
				writeError(w, r, http.StatusBadRequest, "bad_request", "file: the file is empty")
				return "", "", nil, false
			}
			content = b
			name = path.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
			if name == "." || name == "/" || !validText(name) {
				name = ""
			}
			if utf8.RuneCountInString(name) > maxFileName {
				name = string([]rune(name)[:maxFileName])
			}
		}
		part.Close()
	}
	return text, name, content, true
}

// bodyError answers a body that could not be read: too large, or broken.
func (s *Server) bodyError(w http.ResponseWriter, r *http.Request, err error) bool {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, r, http.StatusRequestEntityTooLarge, "attachment_too_large", fmt.Sprintf("file: at most %d MiB", maxAttachmentBytes>>20))
		return false
	}
	writeError(w, r, http.StatusBadRequest, "bad_request", "the body could not be read")
	return false
}

// sniffAttachment returns the type of content as its first bytes show
// it, answering 415 itself when it is not a PDF or an image.
func sniffAttachment(w http.ResponseWriter, r *http.Request, content []byte) (string, bool) {
	ct, _, _ := strings.Cut(http.DetectContentType(content), ";")
	for _, t := range attachmentTypes {
		if ct == t {
			return t, true
		}
	}
	writeError(w, r, http.StatusUnsupportedMediaType, "attachment_type", "file: want a PDF, PNG or JPEG scan (the content is "+ct+")")
	return "", false
}

// explanationFile serves a recorded scan, with its digest in
// X-Content-SHA256, to those who may read the alert.
func (s *Server) explanationFile(w http.ResponseWriter, r *http.Request) {
	eid, err := strconv.ParseInt(r.PathValue("eid"), 10, 64)
	if err != nil || eid <= 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return
	}
	e, err := s.alertIn(r.Context(), principal(r).Scope(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var name, ctype string
	var digest, content []byte
	err = s.pool.QueryRow(r.Context(), `SELECT COALESCE(file_name, ''), content_type, sha256, content
		FROM alert_explanations WHERE id = $1 AND episode_id = $2 AND content IS NOT NULL`, eid, e.ID).Scan(&name, &ctype, &digest, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		s.fail(w, r, track.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("explanation %d of alert %s: %w", eid, e.ID, err))
		return
	}
	if name == "" {
		name = fmt.Sprintf("explanation-%d", eid)
	}
	// A unit's scanned explanation is evidence about a person's use of a
	// car: who read it is recorded, as for a vehicle's history, before a
	// byte of it is sent.
	if err := s.auditFirst(r, Entry{Action: "alert.explanation_file", VehicleID: e.VehicleID, SubjectUnitID: e.UnitID,
		Detail: map[string]any{"alert_id": e.ID, "explanation_id": eid, "sha256": hex.EncodeToString(digest)}}); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(content)))
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	h.Set("X-Content-SHA256", hex.EncodeToString(digest))
	_, _ = io.Copy(w, bytes.NewReader(content))
}

// verifiableAlert returns the alert {id} of a verification step: in the
// caller's jurisdiction (else 404) and not retracted (else 409). It
// answers the client itself on error.
func (s *Server) verifiableAlert(w http.ResponseWriter, r *http.Request) (alerts.ListedEpisode, bool) {
	e, err := s.alertIn(r.Context(), principal(r).Scope(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return e, false
	}
	if e.Status == alerts.EpisodeRetracted {
		writeError(w, r, http.StatusConflict, "alert_retracted", "the alert was retracted by a re-evaluation: there is nothing to verify")
		return e, false
	}
	return e, true
}

// refuseStep answers a verification step the alert's state does not
// allow, naming the state it is in now.
func (s *Server) refuseStep(w http.ResponseWriter, r *http.Request, action, id string) {
	state := "changed"
	if e, err := s.alertIn(r.Context(), principal(r).Scope(), id); err == nil {
		state = string(e.Verification)
	}
	writeError(w, r, http.StatusConflict, "verification_state", fmt.Sprintf("%s is not allowed once an alert is %s", action, state))
}
