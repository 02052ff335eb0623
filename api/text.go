package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"
)

// PostgreSQL stores text as UTF-8 and refuses a NUL character in it: a
// request carrying either would fail at the database, as an internal
// error. Every text input is checked on the way in instead, and answered
// 400 invalid_text: query values and the path (ServeHTTP), JSON bodies
// (decode), uploaded files (readBody); fail answers the database's own
// refusal the same way, for any input that slips past.

// validText reports whether s is text PostgreSQL can store: valid UTF-8
// without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// writeBadText answers 400 invalid_text about what.
func writeBadText(w http.ResponseWriter, r *http.Request, what string) {
	writeError(w, r, http.StatusBadRequest, "invalid_text", what+": not valid UTF-8 text, or holds a NUL character")
}

// urlText returns the part of u that is not valid text ("" when all is).
func urlText(u *url.URL) string {
	if !validText(u.Path) {
		return "path"
	}
	q, _ := url.ParseQuery(u.RawQuery)
	for k, vs := range q {
		if !validText(k) {
			return "query"
		}
		for _, v := range vs {
			if !validText(v) {
				return k
			}
		}
	}
	return ""
}

// nulEscape is JSON's escape of NUL, as it stays in a json.RawMessage.
var nulEscape = []byte(`\u0000`)

// decodedText reports whether every string in v (a decoded JSON body:
// structs, pointers, slices, maps) is valid text. Invalid UTF-8 is
// checked on the raw body, since decoding replaces it; a NUL can only come
// from an escape, found here.
func decodedText(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.IndexByte(v.String(), 0) < 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil() || decodedText(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !decodedText(v.Field(i)) {
				return false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			return !bytes.Contains(v.Bytes(), nulEscape)
		}
		for i := range v.Len() {
			if !decodedText(v.Index(i)) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !decodedText(it.Key()) || !decodedText(it.Value()) {
				return false
			}
		}
	}
	return true
}
