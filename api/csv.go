package api

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// formulaStart holds the characters a spreadsheet (Excel, WPS,
// LibreOffice) starts a formula with, or skips before one: OWASP's list
// for CSV injection. A plate or unit name typed as =HYPERLINK(...) would
// otherwise become a live link in a report an inspector opens.
const formulaStart = "=+-@\t\r"

// csvCell returns s as a spreadsheet shows it literally: a cell that would
// start a formula gets a leading apostrophe, which spreadsheets take as
// "text" and do not show. Numbers ("-3.5") are left as they are: they are
// no formula, and a column of numbers stays one.
func csvCell(s string) string {
	if s == "" || !strings.ContainsRune(formulaStart, rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}

// csvWriter is a csv.Writer that passes every cell through csvCell: every
// CSV fleetmon serves is written through one.
type csvWriter struct{ *csv.Writer }

func newCSVWriter(w io.Writer) csvWriter { return csvWriter{csv.NewWriter(w)} }

// Write writes one record, its cells neutralised (rec is changed).
func (w csvWriter) Write(rec []string) error {
	for i := range rec {
		rec[i] = csvCell(rec[i])
	}
	return w.Writer.Write(rec)
}
