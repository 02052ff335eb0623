package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// Vehicle import through the API: the CSV `fleetd vehicles import` reads
// (plate,plate_color,terminal_phone,unit,category), checked line by line
// against the caller's jurisdiction, and imported whole or not at all in
// one audited transaction. Every bad line is answered at once, so that a
// file is fixed in one go.

// lineError is one bad line of an import file (line 0: the file as a
// whole).
type lineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// importRefused ends an import's transaction for bad lines.
type importRefused struct{ lines []lineError }

func (e *importRefused) Error() string { return fmt.Sprintf("%d bad lines", len(e.lines)) }

// lineErrors splits the errors of track.ParseVehicleCSV (joined) by line.
func lineErrors(err error) []lineError {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]lineError, 0, len(errs))
	for _, e := range errs {
		var ie *track.ImportError
		if errors.As(e, &ie) {
			out = append(out, lineError{Line: ie.Line, Message: ie.Err.Error()})
		} else {
			out = append(out, lineError{Message: e.Error()})
		}
	}
	return out
}

// badLinesJSON is the answer to an import refused for its bad lines.
type badLinesJSON struct {
	Error struct {
		Code    string      `json:"code"`
		Message string      `json:"message"`
		Lines   []lineError `json:"lines"`
	} `json:"error"`
}

// writeLineErrors answers 400 bad_lines: nothing imported, every bad line
// in the message and one by one in lines, in the client's language.
func writeLineErrors(w http.ResponseWriter, r *http.Request, lines []lineError) {
	msgs := make([]string, len(lines))
	for i, l := range lines {
		lines[i].Message = forClient(r, l.Message)
		msgs[i] = l.Message
		if l.Line > 0 {
			msgs[i] = fmt.Sprintf("line %d: %s", l.Line, l.Message)
		}
	}
	var b badLinesJSON
	b.Error.Code, b.Error.Message, b.Error.Lines = "bad_lines", forClient(r, "nothing imported: "+strings.Join(msgs, "; ")), lines
	writeJSON(w, http.StatusBadRequest, b)
}

// importVehicles serves POST /api/v1/vehicles/import.
func (s *Server) importVehicles(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor) {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	vs, err := track.ParseVehicleCSV(bytes.NewReader(body))
	if err != nil {
		writeLineErrors(w, r, lineErrors(err))
		return
	}
	if len(vs) == 0 {
		writeLineErrors(w, r, []lineError{{Message: "the file holds no vehicle"}})
		return
	}
	p := principal(r)
	var created, updated int
	err = s.change(r, func(c changeTx) (Entry, error) {
		if bad, err := importOutside(r.Context(), c, p.Scope(), vs); err != nil || len(bad) > 0 {
			if err == nil {
				err = &importRefused{bad}
			}
			return Entry{}, err
		}
		var err error
		created, updated, err = c.store.ImportVehicles(r.Context(), vs)
		var ie *track.ImportError
		if errors.As(err, &ie) && errors.Is(err, track.ErrConflict) {
			err = &importRefused{[]lineError{{Line: ie.Line, Message: "conflicts with existing data"}}}
		}
		return Entry{Action: "vehicle.import", SubjectUnitID: p.UnitID,
			Detail: map[string]any{"vehicles": len(vs), "created": created, "updated": updated}}, err
	})
	if s.importFailed(w, r, err) {
		return
	}
	s.reload(r)
	writeJSON(w, http.StatusOK, map[string]any{"vehicles": len(vs), "created": created, "updated": updated})
}

// importFailed answers an import's error, if any: its bad lines, or the
// failure; it reports whether there was one.
func (s *Server) importFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	var refused *importRefused
	switch {
	case errors.As(err, &refused):
		writeLineErrors(w, r, refused.lines)
	case err != nil:
		s.fail(w, r, err)
	}
	return err != nil
}

// importOutside returns the lines of vs that reach outside scope: a unit
// not in it (outside scope All, units are not created by an import), a
// plate or a terminal held by a vehicle outside it.
func importOutside(ctx context.Context, c changeTx, sc track.Scope, vs []track.VehicleImport) ([]lineError, error) {
	var bad []lineError
	units := map[string]bool{}
	for _, v := range vs {
		path := strings.Join(v.UnitPath, "/")
		if sc.SQLArg() != nil {
			in, seen := units[path]
			if !seen {
				u, err := c.store.UnitByPath(ctx, path)
				switch {
				case errors.Is(err, track.ErrNotFound):
				case err != nil:
					return nil, err
				default:
					_, err = c.store.UnitIn(ctx, sc, u.ID)
					if err != nil && !errors.Is(err, track.ErrNotFound) {
						return nil, err
					}
					in = err == nil
				}
				units[path] = in
			}
			if !in {
				bad = append(bad, lineError{v.Line, fmt.Sprintf("unit %q: not in your jurisdiction, or no such unit", path)})
				continue
			}
		}
		var outside bool
		err := c.tx.QueryRow(ctx, `SELECT NOT ($1::bigint IS NULL OR v.unit_id IN (SELECT unit_subtree($1)))
			FROM vehicles v WHERE v.plate = $2`, sc.SQLArg(), v.Plate).Scan(&outside)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("look up plate %s: %w", v.Plate, err)
		}
		if outside {
			bad = append(bad, lineError{v.Line, fmt.Sprintf("plate %s: taken outside your jurisdiction", v.Plate)})
			continue
		}
		if v.TerminalPhone == "" {
			continue
		}
		outside = false
		err = c.tx.QueryRow(ctx, `SELECT NOT ($1::bigint IS NULL OR v.unit_id IN (SELECT unit_subtree($1)))
			FROM terminals t JOIN vehicles v ON v.id = t.vehicle_id WHERE t.phone = $2`, sc.SQLArg(), v.TerminalPhone).Scan(&outside)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("look up terminal %s: %w", v.TerminalPhone, err)
		}
		if outside {
			bad = append(bad, lineError{v.Line, fmt.Sprintf("terminal %s: taken outside your jurisdiction", v.TerminalPhone)})
		}
	}
	return bad, nil
}
