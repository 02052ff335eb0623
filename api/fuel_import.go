package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Card statements as the oil companies issue them: a CSV (UTF-8 with or
// without a byte order mark, or GBK as Chinese Windows saves it) or an
// XLSX workbook (its first sheet), a header line naming the columns in
// English or as the statements print them, in any order. An import is
// all or nothing, every bad line named; a fill already imported (the same
// card, time, station, product, litres and amount) is not added again.

// fillHeaders are the statement's columns and the names they go by.
var fillHeaders = map[string][]string{
	"card":    {"card", "card_no", "卡号", "加油卡号"},
	"time":    {"time", "交易时间", "时间", "加油时间"},
	"station": {"station", "加油站", "油站名称", "网点名称", "加油站名称"},
	"product": {"product", "油品", "商品名称", "油品名称"},
	"litres":  {"litres", "liters", "数量", "升数", "加油量", "数量(升)"},
	"amount":  {"amount", "金额", "交易金额", "金额(元)"},
}

// stationHeaders are the station list's columns.
var stationHeaders = map[string][]string{
	"name": {"name", "名称", "加油站", "油站名称"},
	"lat":  {"lat", "纬度"},
	"lon":  {"lon", "lng", "经度"},
}

// maxStatementBytes bounds a statement: a month of a city's cards.
const maxStatementBytes = 8 << 20

// readStatement reads a statement or station list, CSV or XLSX, into
// records (line i+1 is recs[i]). It answers the client itself when the
// body cannot be read; bad holds a line that is not CSV.
func (s *Server) readStatement(w http.ResponseWriter, r *http.Request) (recs [][]string, bad []lineError, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStatementBytes+1))
	if err != nil || len(body) > maxStatementBytes {
		var mbe *http.MaxBytesError
		if len(body) > maxStatementBytes || errors.As(err, &mbe) {
			writeError(w, r, http.StatusRequestEntityTooLarge, "too_large", "request body too large")
			return nil, nil, false
		}
		writeError(w, r, http.StatusBadRequest, "bad_request", "the body could not be read")
		return nil, nil, false
	}
	if bytes.HasPrefix(body, []byte("PK\x03\x04")) {
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			return nil, []lineError{{Message: "the workbook cannot be read"}}, true
		}
		defer f.Close()
		// Raw values: a time kept as a spreadsheet date (a serial
		// number) is read whatever format shows it.
		rows, err := f.GetRows(f.GetSheetName(0), excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, []lineError{{Message: "the workbook's first sheet cannot be read"}}, true
		}
		return rows, nil, true
	}
	text, _ := decodeText(body)
	if !validText(string(text)) {
		writeBadText(w, r, "request body")
		return nil, nil, false
	}
	recs, bad = csvRecords(text)
	return recs, bad, true
}

// statementColumns finds the columns of recs' header line (recs[0]); nil
// and the problem when a required column is missing.
func statementColumns(recs [][]string, names map[string][]string, required []string) (map[string]int, []lineError) {
	if len(recs) == 0 {
		return nil, []lineError{{Message: "the file is empty"}}
	}
	cols := map[string]int{}
	for i, h := range recs[0] {
		h = strings.ToLower(strings.TrimSpace(h))
		for col, aliases := range names {
			for _, a := range aliases {
				if h == strings.ToLower(a) {
					cols[col] = i
				}
			}
		}
	}
	var missing []string
	for _, c := range required {
		if _, ok := cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if missing != nil {
		return nil, []lineError{{Line: 1, Message: "header: missing column " + strings.Join(missing, ", ")}}
	}
	return cols, nil
}

// cellOf returns rec's cell i, trimmed ("" past its end).
func cellOf(rec []string, i int) string {
	if i < 0 || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// blankRecord reports whether every cell of rec is empty.
func blankRecord(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// parseFigure reads a number as statements write it ("1,234.50").
func parseFigure(v string) (float64, error) {
	return strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
}

// parseFillTime reads a statement's time: as text (parseApprovalTime), or
// as a spreadsheet's date serial number, Beijing wall time.
func parseFillTime(v string) (time.Time, error) {
	t, err := parseApprovalTime(v)
	if err == nil {
		return t, nil
	}
	if n, ferr := strconv.ParseFloat(v, 64); ferr == nil && n > 20000 && n < 80000 {
		if u, xerr := excelize.ExcelDateToTime(n, false); xerr == nil {
			u = u.Round(time.Second)
			return time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), 0, cst), nil
		}
	}
	return t, err
}

// statementFill is one line of a statement.
type statementFill struct {
	line                   int
	card, station, product string
	at                     time.Time
	litres, amount         float64
}

// parseFills reads the fills of a statement's records.
func parseFills(recs [][]string) ([]statementFill, []lineError) {
	cols, bad := statementColumns(recs, fillHeaders, []string{"card", "time", "station", "litres", "amount"})
	if cols == nil {
		return nil, bad
	}
	prod, ok := cols["product"]
	if !ok {
		prod = -1
	}
	var out []statementFill
	for i, rec := range recs[1:] {
		if blankRecord(rec) {
			continue
		}
		f := statementFill{line: i + 2, card: cellOf(rec, cols["card"]), station: cellOf(rec, cols["station"]), product: cellOf(rec, prod)}
		var probs []string
		if !cardNo.MatchString(f.card) {
			probs = append(probs, fmt.Sprintf("card %q: want 4 to 32 letters or digits", f.card))
		}
		var err error
		if f.at, err = parseFillTime(cellOf(rec, cols["time"])); err != nil {
			probs = append(probs, "time: "+err.Error())
		}
		if f.station == "" || !validText(f.station) || !validText(f.product) {
			probs = append(probs, "station: empty or not text")
		}
		if f.litres, err = parseFigure(cellOf(rec, cols["litres"])); err != nil || f.litres <= 0 || f.litres > 10000 {
			probs = append(probs, fmt.Sprintf("litres %q: want a positive number", cellOf(rec, cols["litres"])))
		}
		if f.amount, err = parseFigure(cellOf(rec, cols["amount"])); err != nil || f.amount < 0 || f.amount > 1e8 {
			probs = append(probs, fmt.Sprintf("amount %q: want a number of yuan", cellOf(rec, cols["amount"])))
		}
		if probs != nil {
			bad = append(bad, lineError{Line: f.line, Message: strings.Join(probs, "; ")})
			continue
		}
		out = append(out, f)
	}
	if bad == nil && out == nil {
		bad = []lineError{{Message: "the file holds no fill"}}
	}
	return out, bad
}

// importFills serves POST /api/v1/fuel/transactions/import: a statement
// (CSV or XLSX). Outside an administrator's jurisdiction of everything,
// every card must be bound, at its fill's time, to a vehicle of the
// caller's units.
func (s *Server) importFills(w http.ResponseWriter, r *http.Request) {
	if !s.allow(w, r, RoleAdmin, RoleSupervisor, RoleInspector) {
		return
	}
	recs, bad, ok := s.readStatement(w, r)
	if !ok {
		return
	}
	fills, pbad := parseFills(recs)
	if bad = append(bad, pbad...); len(bad) > 0 {
		writeLineErrors(w, r, bad)
		return
	}
	sum := sha256.New()
	for _, rec := range recs {
		fmt.Fprintf(sum, "%q\n", rec)
	}
	p := principal(r)
	var added int
	err := s.change(r, func(c changeTx) (Entry, error) {
		added = 0
		var outside []lineError
		for _, f := range fills {
			if p.Scope().Root != 0 {
				var in bool
				if err := c.tx.QueryRow(r.Context(), `SELECT EXISTS (SELECT 1 FROM fuel_cards c JOIN vehicles v ON v.id = c.vehicle_id
					WHERE c.card_no = $1 AND c.valid_from <= $2 AND (c.valid_to IS NULL OR $2 < c.valid_to)
					  AND v.unit_id IN (SELECT unit_subtree($3)))`, f.card, f.at, p.Scope().SQLArg()).Scan(&in); err != nil {
					return Entry{}, fmt.Errorf("card %s: %w", f.card, err)
				}
				if !in {
					outside = append(outside, lineError{Line: f.line, Message: fmt.Sprintf("card %s is bound to no vehicle of your units at that time", f.card)})
					continue
				}
			}
			tag, err := c.tx.Exec(r.Context(), `INSERT INTO fuel_fills (card_no, filled_at, station, product, litres, amount)
				VALUES ($1, $2, $3, $4, round($5::numeric, 2), round($6::numeric, 2)) ON CONFLICT DO NOTHING`,
				f.card, f.at, f.station, f.product, f.litres, f.amount)
			if err != nil {
				return Entry{}, fmt.Errorf("line %d: %w", f.line, err)
			}
			added += int(tag.RowsAffected())
		}
		if outside != nil {
			return Entry{}, &importRefused{outside}
		}
		return Entry{Action: "fuel.import", SubjectUnitID: p.UnitID,
			Detail: map[string]any{"fills": len(fills), "added": added, "file_sha256": hex.EncodeToString(sum.Sum(nil))}}, nil
	})
	if s.importFailed(w, r, err) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"fills": len(fills), "added": added, "unchanged": len(fills) - added})
}
