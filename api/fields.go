package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"fleetmon/alerts"
)

// unknownField explains a JSON body's unknown field: which one, where,
// and the fields valid there, so that a typo is refused with the right
// spelling beside it rather than silently ignored. It returns "" when it
// finds none (v's type has no fixed fields where the body has one).
func unknownField(body []byte, v any) string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	if e := findUnknown("", doc, reflect.TypeOf(v)); e != nil {
		return e.Error()
	}
	return ""
}

func findUnknown(path string, doc any, t reflect.Type) *alerts.UnknownNameError {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if list, ok := doc.([]any); ok {
			for _, x := range list {
				if e := findUnknown(path+"[]", x, t.Elem()); e != nil {
					return e
				}
			}
		}
	case reflect.Map:
		if m, ok := doc.(map[string]any); ok {
			for k, x := range m {
				if e := findUnknown(joinPath(path, k), x, t.Elem()); e != nil {
					return e
				}
			}
		}
	case reflect.Struct:
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		valid := make([]string, 0, len(fields))
		for name := range fields {
			valid = append(valid, name)
		}
		slices.Sort(valid)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				// encoding/json matches names case-insensitively.
				for name, t := range fields {
					if strings.EqualFold(name, k) {
						ft, ok = t, true
					}
				}
			}
			if !ok {
				return &alerts.UnknownNameError{What: "字段 field", Name: joinPath(path, k), Valid: valid}
			}
			if e := findUnknown(joinPath(path, k), m[k], ft); e != nil {
				return e
			}
		}
	}
	return nil
}

// joinPath names field k of the value at path ("week[][].end").
func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// jsonFields returns the JSON names of a struct's fields (embedded
// structs' too) and their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// ruleIDs are the rules' ids, as the API names them.
func ruleIDs() []string {
	out := make([]string, len(alerts.RuleIDs))
	for i, r := range alerts.RuleIDs {
		out[i] = string(r)
	}
	return out
}
