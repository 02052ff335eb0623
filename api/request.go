package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"fleetmon/track"
)

// cst is the zone the API shows times in and reads dates without an
// offset in.
var cst = track.Beijing

func formatTime(t time.Time) string { return t.In(cst).Format(time.RFC3339) }

// formatMillis is formatTime to the millisecond; "" for the zero time.
func formatMillis(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format("2006-01-02T15:04:05.000Z07:00")
}

// allow answers 403 unless the caller has one of roles.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, roles ...Role) bool {
	if slices.Contains(roles, principal(r).Role) {
		return true
	}
	writeError(w, r, http.StatusForbidden, "forbidden", "your role may not do this")
	return false
}

// maxPeriod bounds a track or audit period: a year (366 days).
const maxPeriod = 366 * 24 * time.Hour

// period reads ?from= and ?to= (RFC 3339); required makes both mandatory.
func period(w http.ResponseWriter, r *http.Request, required bool) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			if required {
				writeError(w, r, http.StatusBadRequest, "bad_request", name+": required (RFC 3339, e.g. 2026-11-20T08:00:00+08:00)")
				return time.Time{}, false
			}
			return time.Time{}, true
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "bad_request", name+": want RFC 3339, e.g. 2026-11-20T08:00:00+08:00")
			return time.Time{}, false
		}
		return t, true
	}
	if from, ok = parse("from"); !ok {
		return
	}
	if to, ok = parse("to"); !ok {
		return
	}
	if required && (!to.After(from) || to.Sub(from) > maxPeriod) {
		writeError(w, r, http.StatusBadRequest, "bad_request", "period: want from before to, at most 366 days apart")
		return from, to, false
	}
	return from, to, true
}

func list[T any](w http.ResponseWriter, items []T, total, limit, offset int) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total, "limit": limit, "offset": offset})
}

func cmpOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// readCSV reads a CSV body whole (through readBody): its records, the
// byte order mark dropped from the first, up to the first line that is
// not CSV, which is reported in bad with its line number. It answers the
// client itself, and returns false, when the body is too large or not
// text.
func (s *Server) readCSV(w http.ResponseWriter, r *http.Request) (recs [][]string, bad []lineError, ok bool) {
	body, ok := s.readBody(w, r)
	if !ok {
		return nil, nil, false
	}
	recs, bad = csvRecords(bytes.TrimPrefix(body, []byte("\ufeff")))
	return recs, bad, true
}

// csvRecords reads the records of a CSV text up to the first line that is
// not CSV, which is reported in bad with its line number.
func csvRecords(text []byte) (recs [][]string, bad []lineError) {
	cr := csv.NewReader(bytes.NewReader(text))
	cr.FieldsPerRecord = -1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return recs, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return recs, []lineError{{Line: pe.Line, Message: pe.Err.Error()}}
		}
		if err != nil {
			return recs, []lineError{{Message: err.Error()}}
		}
		recs = append(recs, rec)
	}
}

// queryID reads the optional id ?name= (0 when absent), answering 400
// itself for anything but a positive integer.
func queryID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", name+": want an id")
		return 0, false
	}
	return n, true
}

// readBody reads a whole body, answering itself when it is too large or
// is not valid text (see validText).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
			return nil, false
		}
		writeError(w, r, http.StatusBadRequest, "bad_request", "the body could not be read")
		return nil, false
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		writeBadText(w, r, "request body")
		return nil, false
	}
	return b, true
}
