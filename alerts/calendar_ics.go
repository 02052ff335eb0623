package alerts

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ICS markers. A VEVENT's SUMMARY decides what its days are:
//   - a workday (调休上班) if it contains one of workdayMarkers;
//   - otherwise a holiday, named by the SUMMARY without holidayMarkers;
//   - ambiguous, and rejected, if it contains both kinds of marker, or
//     "调休" with no workday marker ("调休" alone names both the day off and
//     the day worked), or is empty.
var (
	workdayMarkers = []string{"补班", "上班", "调班", "（班）", "(班)", "[班]"}
	holidayMarkers = []string{"放假", "假期", "休息", "（休）", "(休)", "[休]"}
)

// ParseHolidaysICS reads an iCalendar file (RFC 5545) of whole-day VEVENTs
// (DTSTART;VALUE=DATE, optional DTEND, exclusive) and builds the holiday
// set for the years it touches. Timed events, recurring events, a date in
// two events and an unclassifiable SUMMARY are errors naming the event.
func ParseHolidaysICS(b []byte) (*HolidaySet, error) {
	f := HolidayFile{Source: "iCalendar import", Years: map[string]HolidayYear{}}
	groups := map[string]int{} // "year/name" -> index in Holidays
	seen := map[Date]string{}
	var ev map[string]string
	var evProps map[string]string // property name -> params
	n := 0
	for _, line := range unfoldICS(b) {
		name, params, value := splitICSLine(line)
		switch {
		case name == "BEGIN" && value == "VEVENT":
			ev, evProps = map[string]string{}, map[string]string{}
			n++
		case name == "END" && value == "VEVENT":
			if ev == nil {
				return nil, fmt.Errorf("alerts: ics: END:VEVENT without BEGIN")
			}
			if err := addICSEvent(&f, groups, seen, n, ev, evProps); err != nil {
				return nil, err
			}
			ev = nil
		case ev != nil:
			ev[name] = value
			evProps[name] = params
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("alerts: ics: no VEVENT")
	}
	return NewHolidaySet(f)
}

func addICSEvent(f *HolidayFile, groups map[string]int, seen map[Date]string, n int, ev, params map[string]string) error {
	summary := unescapeICS(strings.TrimSpace(ev["SUMMARY"]))
	where := fmt.Sprintf("alerts: ics: event %d (%q)", n, summary)
	if _, ok := ev["RRULE"]; ok {
		return fmt.Errorf("%s: recurring events are not supported", where)
	}
	start, err := parseICSDate(ev["DTSTART"], params["DTSTART"])
	if err != nil {
		return fmt.Errorf("%s: DTSTART: %w", where, err)
	}
	end := start.AddDays(1)
	if v, ok := ev["DTEND"]; ok {
		if end, err = parseICSDate(v, params["DTEND"]); err != nil {
			return fmt.Errorf("%s: DTEND: %w", where, err)
		}
	}
	if !end.In(time.UTC).After(start.In(time.UTC)) {
		return fmt.Errorf("%s: DTEND not after DTSTART", where)
	}
	// A holiday lasts days, not months: a longer event is a mistake.
	if end.In(time.UTC).Sub(start.In(time.UTC)) > 31*24*time.Hour {
		return fmt.Errorf("%s: longer than 31 days", where)
	}
	kind, name, err := classifyICS(summary)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	for d := start; d != end; d = d.AddDays(1) {
		if prev, dup := seen[d]; dup {
			return fmt.Errorf("%s: %s is also in %q", where, d, prev)
		}
		seen[d] = summary
		ys := strconv.Itoa(d.Year)
		y := f.Years[ys]
		if kind == MakeUpWorkday {
			y.Workdays = append(y.Workdays, d)
		} else {
			key := ys + "/" + name
			i, ok := groups[key]
			if !ok {
				i = len(y.Holidays)
				groups[key] = i
				y.Holidays = append(y.Holidays, HolidayGroup{Name: name})
			}
			y.Holidays[i].Days = append(y.Holidays[i].Days, d)
		}
		f.Years[ys] = y
	}
	return nil
}

func classifyICS(summary string) (DayKind, string, error) {
	has := func(ms []string) bool {
		for _, m := range ms {
			if strings.Contains(summary, m) {
				return true
			}
		}
		return false
	}
	work := has(workdayMarkers) || summary == "班"
	off := has(holidayMarkers) || summary == "休"
	switch {
	case summary == "":
		return 0, "", fmt.Errorf("empty SUMMARY")
	case work && off:
		return 0, "", fmt.Errorf("SUMMARY names both a workday and a day off")
	case work:
		return MakeUpWorkday, "", nil
	case strings.Contains(summary, "调休"):
		return 0, "", fmt.Errorf("SUMMARY says 调休 without 上班/补班: ambiguous")
	}
	name := summary
	for _, m := range holidayMarkers {
		name = strings.ReplaceAll(name, m, "")
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "休" {
		name = "假日"
	}
	return Holiday, name, nil
}

func parseICSDate(v, params string) (Date, error) {
	if strings.Contains(v, "T") {
		return Date{}, fmt.Errorf("%q is not a whole day (VALUE=DATE expected)", v)
	}
	if params != "" && !strings.Contains(strings.ToUpper(params), "VALUE=DATE") {
		return Date{}, fmt.Errorf("parameters %q: VALUE=DATE expected", params)
	}
	t, err := time.Parse("20060102", v)
	if err != nil {
		return Date{}, fmt.Errorf("bad date %q", v)
	}
	return DateOf(t), nil
}

// unfoldICS splits the file into logical lines (RFC 5545 §3.1: a line
// starting with a space or tab continues the previous one).
func unfoldICS(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(out) > 0 {
			out[len(out)-1] += l[1:]
			continue
		}
		out = append(out, l)
	}
	return out
}

// splitICSLine splits "NAME;PARAMS:VALUE".
func splitICSLine(l string) (name, params, value string) {
	head, value, _ := strings.Cut(l, ":")
	name, params, _ = strings.Cut(head, ";")
	return strings.ToUpper(strings.TrimSpace(name)), params, strings.TrimSpace(value)
}

func unescapeICS(s string) string {
	r := strings.NewReplacer(`\,`, ",", `\;`, ";", `\n`, " ", `\N`, " ", `\\`, `\`)
	return r.Replace(s)
}
