package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Reading an export file as a user hands it back: not always the bytes
// fleetmon wrote. A spreadsheet that opened a CSV and saved it again drops
// the UTF-8 byte order mark, ends lines with CRLF, or writes the local code
// page (GBK/GB18030 on Chinese Windows). The file is decoded and its layout
// recognised by content, and what was found is said in the answer, as is
// any check that could not be made.

// exportFile is an export file decoded for verification.
type exportFile struct {
	// text is the file as UTF-8 without a byte order mark.
	text []byte
	// Format is csv, geojson, gpx, kml, html, or "" (see ExportCheck).
	Format string
	// Encoding is utf-8-bom, utf-8 or gb18030 (the file was not UTF-8 and
	// decodes as the Chinese national code page, of which GBK is a part).
	Encoding string
	// LineEnding is lf, crlf or mixed.
	LineEnding string
}

// csvColumns are the columns of a CSV export, in order.
var csvColumns = strings.Split(csvHeader, ",")

// csvHeader is the CSV export's header line (without BOM and newline).
const csvHeader = "device_time,received_at,lat,lon,speed_kmh,heading,altitude_m,alarm,status,acc,mileage_km,backfill"

// decodeText returns file as UTF-8 without a byte order mark, and the
// encoding it was found in: utf-8-bom, utf-8, or gb18030 (not UTF-8, and
// decodes as the Chinese national code page, of which GBK is a part; a
// file that decodes as neither is returned as it is, as utf-8).
func decodeText(file []byte) ([]byte, string) {
	switch {
	case bytes.HasPrefix(file, []byte("\ufeff")):
		return file[3:], "utf-8-bom"
	case !utf8.Valid(file):
		if dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(file); err == nil {
			return dec, "gb18030"
		}
	}
	return file, "utf-8"
}

// readExportFile decodes file and recognises its layout.
func readExportFile(file []byte) exportFile {
	f := exportFile{}
	f.text, f.Encoding = decodeText(file)
	crlf := bytes.Count(f.text, []byte("\r\n"))
	switch lf := bytes.Count(f.text, []byte("\n")); {
	case crlf == 0:
		f.LineEnding = "lf"
	case crlf == lf:
		f.LineEnding = "crlf"
	default:
		f.LineEnding = "mixed"
	}
	head := f.text[:min(len(f.text), 512)]
	switch {
	case bytes.HasPrefix(head, []byte("device_time,")), bytes.HasPrefix(head, []byte(`"device_time",`)):
		f.Format = "csv"
	case bytes.HasPrefix(head, []byte(`{"type":"FeatureCollection"`)):
		f.Format = "geojson"
	case bytes.Contains(head, []byte("<gpx ")):
		f.Format = "gpx"
	case bytes.Contains(head, []byte("<kml ")):
		f.Format = "kml"
	case bytes.HasPrefix(bytes.TrimSpace(head), []byte("<!DOCTYPE html>")):
		f.Format = "html"
	}
	return f
}

// rowLines returns the position lines of a row-format export, without
// their line endings, in file order.
func (f exportFile) rowLines() [][]byte {
	var out [][]byte
	inCoords := false
	header := f.Format == "csv"
	for file := f.text; len(file) > 0; {
		i := bytes.IndexByte(file, '\n')
		var line []byte
		if i < 0 {
			line, file = file, nil
		} else {
			line, file = file[:i], file[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		switch f.Format {
		case "csv":
			// Comments start with # (quoted, "#, where they hold a comma).
			if bytes.HasPrefix(line, []byte("#")) || bytes.HasPrefix(line, []byte(`"#`)) || len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if header {
				header = false
				continue
			}
			out = append(out, line)
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

// FieldDiff is one value of a position line that differs: the value the
// stored row renders to and the one the file holds, both as written in
// the export (the stored decimal representation, never a re-rounded
// float).
type FieldDiff struct {
	Field  string `json:"field"`
	Stored string `json:"stored"`
	File   string `json:"file"`
}

// fieldDiffs compares a position line of the file with the line the stored
// row renders to, value by value. A line that cannot be split into the
// format's values is compared whole (field "line").
func fieldDiffs(format string, stored, file []byte) []FieldDiff {
	names, sv := lineFields(format, stored)
	_, fv := lineFields(format, file)
	if sv == nil || fv == nil || len(sv) != len(fv) {
		return []FieldDiff{{Field: "line", Stored: string(stored), File: string(file)}}
	}
	var out []FieldDiff
	for i := range sv {
		if sv[i] != fv[i] {
			out = append(out, FieldDiff{Field: names[i], Stored: sv[i], File: fv[i]})
		}
	}
	return out
}

var gpxFields = regexp.MustCompile(`^<trkpt lat="([^"]*)" lon="([^"]*)"><ele>([^<]*)</ele><time>([^<]*)</time></trkpt>$`)

// geojsonProperties are the properties of a GeoJSON export's features, in
// the order lineFields returns them (after lon and lat).
var geojsonProperties = []string{"time", "speed_kmh", "heading", "status", "alarm", "backfill"}

// lineFields splits one position line into its named values, as text;
// nil values when the line is not in the format's layout.
func lineFields(format string, line []byte) ([]string, []string) {
	line = bytes.TrimRight(line, "\r\n")
	switch format {
	case "csv":
		r := csv.NewReader(bytes.NewReader(line))
		r.FieldsPerRecord = -1
		rec, err := r.Read()
		if err != nil || len(rec) != len(csvColumns) {
			return csvColumns, nil
		}
		return csvColumns, rec
	case "geojson":
		var ft struct {
			Geometry struct {
				Coordinates []json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if json.Unmarshal(bytes.TrimPrefix(line, []byte(",")), &ft) != nil || len(ft.Geometry.Coordinates) != 2 {
			return nil, nil
		}
		names := append([]string{"lon", "lat"}, geojsonProperties...)
		vals := []string{string(ft.Geometry.Coordinates[0]), string(ft.Geometry.Coordinates[1])}
		for _, p := range geojsonProperties {
			vals = append(vals, strings.Trim(string(ft.Properties[p]), `"`))
		}
		return names, vals
	case "gpx":
		m := gpxFields.FindSubmatch(line)
		if m == nil {
			return nil, nil
		}
		return []string{"lat", "lon", "altitude_m", "time"}, []string{string(m[1]), string(m[2]), string(m[3]), string(m[4])}
	case "kml":
		v := strings.Split(strings.TrimSpace(string(line)), ",")
		if len(v) != 3 {
			return nil, nil
		}
		return []string{"lon", "lat", "altitude_m"}, v
	}
	return nil, nil
}
