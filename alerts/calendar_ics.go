package alerts

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Holiday calendars as iCalendar files (RFC 5545). The public Chinese
// holiday calendars mark what a day is in the event's SUMMARY, sometimes
// in its CATEGORIES: "春节假期" and "春节补班", "元旦（休）" and "（班）",
// "春节调休" with CATEGORIES:上班. A day is a make-up workday (调休上班)
// when SUMMARY or CATEGORIES carries one of workdayMarkers, otherwise a
// holiday named by the SUMMARY without its markers. An event that says a
// day is both worked and off ("休息/补班"), or says only "调休" (which
// names the day off and the day worked alike), cannot be classified and is
// refused. The nouns in holidayNouns mark a holiday only on their own: in
// "国庆假期补班" or "单位集中休假补班" they name the holiday made up for.
var (
	workdayMarkers = []string{"补班", "上班", "调班", "（班）", "(班)", "[班]", "【班】"}
	holidayMarkers = []string{"放假", "休息", "（休）", "(休)", "[休]", "【休】"}
	holidayNouns   = []string{"假期", "休假"}
	// Words that mark a day only where they stand alone: as the SUMMARY's
	// last word ("元旦 休") or as a category.
	workdayWords = []string{"班", "工作日"}
	holidayWords = []string{"休", "假", "假日", "节假日", "休息日"}
)

// icsEvent is one VEVENT's properties, with the line each was on.
type icsEvent struct {
	line  int // BEGIN:VEVENT
	props map[string]icsProp
}

type icsProp struct {
	line          int
	params, value string
}

// icsDays is what an event says: its days and their kind and name.
type icsDays struct {
	line    int
	summary string
	kind    DayKind
	name    string
	days    []Date
}

// ParseHolidaysICS reads an iCalendar file of whole-day events and builds
// the holiday set for the years it touches. A whole day is a DATE value
// (DTSTART;VALUE=DATE:20270101), or a DATE-TIME at midnight in Beijing
// time (in its TZID's zone, UTC with Z, or the file's X-WR-TIMEZONE when
// floating); DTEND is exclusive, and DURATION may stand in for it. Its
// error is CalendarProblems, naming every bad event by its line.
func ParseHolidaysICS(b []byte) (*HolidaySet, error) {
	events, probs := readICS(b)
	var all []icsDays
	for _, ev := range events {
		if d, ok := ev.days(&probs); ok {
			all = append(all, d)
		}
	}
	if len(events) == 0 && len(probs) == 0 {
		probs.add(0, "no VEVENT: not a holiday calendar")
	}
	f := HolidayFile{Source: "iCalendar import", Years: map[string]HolidayYear{}}
	seen := map[Date]icsDays{}
	groups := map[string]int{} // "year/name" -> index in the year's Holidays
	for _, e := range all {
		for _, d := range e.days {
			if prev, dup := seen[d]; dup {
				probs.add(e.line, "event %q: %s is also in event %q (line %d)", e.summary, d, prev.summary, prev.line)
				continue
			}
			seen[d] = e
			ys := strconv.Itoa(d.Year)
			y := f.Years[ys]
			if e.kind == MakeUpWorkday {
				y.Workdays = append(y.Workdays, d)
				if e.name != "" {
					if y.WorkdayNames == nil {
						y.WorkdayNames = map[Date]string{}
					}
					y.WorkdayNames[d] = e.name
				}
			} else {
				key := ys + "/" + e.name
				i, ok := groups[key]
				if !ok {
					i = len(y.Holidays)
					groups[key] = i
					y.Holidays = append(y.Holidays, HolidayGroup{Name: e.name})
				}
				y.Holidays[i].Days = append(y.Holidays[i].Days, d)
			}
			f.Years[ys] = y
		}
	}
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b CalendarProblem) int { return a.Line - b.Line })
		return nil, probs
	}
	for ys, y := range f.Years {
		slices.SortFunc(y.Workdays, compareDates)
		for _, g := range y.Holidays {
			slices.SortFunc(g.Days, compareDates)
		}
		f.Years[ys] = y
	}
	return NewHolidaySet(f)
}

func compareDates(a, b Date) int {
	return a.In(time.UTC).Compare(b.In(time.UTC))
}

// readICS splits the file into its events, skipping the components
// nested in them (VALARM) and everything outside them but X-WR-TIMEZONE,
// which it applies to floating times.
func readICS(b []byte) ([]icsEvent, CalendarProblems) {
	var probs CalendarProblems
	var events []icsEvent
	var ev *icsEvent
	nested := 0
	floating := ""
	for _, l := range unfoldICS(b) {
		name, params, value := splitICSLine(l.text)
		switch {
		case name == "BEGIN" && strings.EqualFold(value, "VEVENT"):
			if ev != nil {
				probs.add(ev.line, "BEGIN:VEVENT without END:VEVENT")
			}
			ev = &icsEvent{line: l.n, props: map[string]icsProp{}}
			nested = 0
		case name == "END" && strings.EqualFold(value, "VEVENT"):
			if ev == nil {
				probs.add(l.n, "END:VEVENT without BEGIN:VEVENT")
				continue
			}
			events = append(events, *ev)
			ev = nil
		case ev != nil && name == "BEGIN":
			nested++
		case ev != nil && name == "END":
			nested--
		case ev != nil && nested == 0:
			ev.props[name] = icsProp{l.n, params, value}
		case ev == nil && name == "X-WR-TIMEZONE":
			floating = value
		}
	}
	if ev != nil {
		probs.add(ev.line, "BEGIN:VEVENT without END:VEVENT")
	}
	if floating != "" {
		for _, e := range events {
			for k, p := range e.props {
				if (k == "DTSTART" || k == "DTEND") && icsParam(p.params, "TZID") == "" && !strings.HasSuffix(p.value, "Z") {
					p.params += ";X-FLOATING=" + floating
					e.props[k] = p
				}
			}
		}
	}
	return events, probs
}

// days checks the event and returns what it says; a cancelled event says
// nothing.
func (ev icsEvent) days(probs *CalendarProblems) (icsDays, bool) {
	summary := unescapeICS(ev.props["SUMMARY"].value)
	out := icsDays{line: ev.line, summary: summary}
	bad := func(line int, format string, args ...any) {
		probs.add(line, "event %q: "+format, append([]any{summary}, args...)...)
	}
	if strings.EqualFold(ev.props["STATUS"].value, "CANCELLED") {
		return out, false
	}
	ok := true
	for _, p := range []string{"RRULE", "RDATE"} {
		if v, has := ev.props[p]; has {
			bad(v.line, "recurring events (%s) are not supported", p)
			ok = false
		}
	}
	start, has := ev.props["DTSTART"]
	if !has {
		bad(ev.line, "DTSTART missing")
		return out, false
	}
	first, err := icsDay(start)
	if err != "" {
		bad(start.line, "DTSTART: %s", err)
		ok = false
	}
	end := first.AddDays(1)
	if p, has := ev.props["DTEND"]; has {
		if end, err = icsDay(p); err != "" {
			bad(p.line, "DTEND: %s", err)
			ok = false
		}
	} else if p, has := ev.props["DURATION"]; has {
		n, derr := icsDurationDays(p.value)
		if derr != "" {
			bad(p.line, "DURATION: %s", derr)
			ok = false
		}
		end = first.AddDays(n)
	}
	kind, name, cerr := classifyICS(summary, ev.props["CATEGORIES"].value)
	if cerr != "" {
		line := ev.props["SUMMARY"].line
		if line == 0 {
			line = ev.line
		}
		bad(line, "%s", cerr)
		ok = false
	}
	if !ok {
		return out, false
	}
	n := int(end.In(time.UTC).Sub(first.In(time.UTC)) / (24 * time.Hour))
	switch {
	case n <= 0:
		bad(start.line, "DTEND %s not after DTSTART %s", end, first)
		return out, false
	case n > 31:
		// A holiday lasts days, not months: a longer event is a mistake.
		bad(start.line, "%d days long, more than 31", n)
		return out, false
	}
	out.kind, out.name = kind, name
	for d := first; d != end; d = d.AddDays(1) {
		if wd := d.Weekday(); kind == MakeUpWorkday && wd != time.Saturday && wd != time.Sunday {
			bad(start.line, "make-up workday %s is a %s, not a weekend day", d, wd)
			ok = false
		}
		out.days = append(out.days, d)
	}
	return out, ok
}

// classifyICS tells a make-up workday from a holiday by the event's
// SUMMARY and CATEGORIES, and names it.
func classifyICS(summary, categories string) (DayKind, string, string) {
	words := strings.Fields(summary)
	last := ""
	if len(words) > 0 {
		last = words[len(words)-1]
	}
	cats := strings.Split(unescapeICS(categories), ",")
	for i := range cats {
		cats[i] = strings.TrimSpace(cats[i])
	}
	has := func(markers, alone []string) bool {
		for _, m := range markers {
			if strings.Contains(summary, m) || strings.Contains(categories, m) {
				return true
			}
		}
		for _, w := range alone {
			if last == w || slices.Contains(cats, w) {
				return true
			}
		}
		return false
	}
	work, off := has(workdayMarkers, workdayWords), has(holidayMarkers, holidayWords)
	if !work && has(holidayNouns, nil) {
		off = true
	}
	switch {
	case strings.TrimSpace(summary) == "":
		return 0, "", "empty SUMMARY"
	case work && off:
		return 0, "", "marked both a workday and a day off"
	case !work && !off && strings.Contains(summary, "调休"):
		return 0, "", "says 调休 without saying whether the day is worked (补班, 上班) or off (休, 放假): ambiguous"
	}
	name := summary
	for _, m := range slices.Concat(workdayMarkers, holidayMarkers, []string{"调休"}) {
		name = strings.ReplaceAll(name, m, "")
	}
	name = strings.TrimSuffix(strings.TrimSpace(name), "假期")
	if f := strings.Fields(name); len(f) > 1 && slices.Contains(slices.Concat(workdayWords, holidayWords), f[len(f)-1]) {
		name = strings.Join(f[:len(f)-1], " ")
	}
	name = strings.Trim(strings.TrimSpace(name), "-—:：·,，")
	if work {
		return MakeUpWorkday, name, ""
	}
	if name == "" || slices.Contains(holidayWords, name) {
		name = "假日"
	}
	return Holiday, name, ""
}

// windowsZones are the zone names Outlook writes in TZID for China.
var windowsZones = map[string]string{"China Standard Time": DefaultTimeZone}

// icsDay reads a DTSTART or DTEND as a date: a DATE, or a DATE-TIME at
// midnight in Beijing time. It returns the problem, if any.
func icsDay(p icsProp) (Date, string) {
	v := p.value
	if !strings.Contains(v, "T") {
		t, err := time.Parse("20060102", v)
		if err != nil {
			return Date{}, fmt.Sprintf("%q is not a date", v)
		}
		return DateOf(t), ""
	}
	var t time.Time
	var err error
	if strings.HasSuffix(v, "Z") {
		t, err = time.Parse("20060102T150405Z", v)
	} else {
		zone := icsParam(p.params, "TZID")
		if zone == "" {
			zone = icsParam(p.params, "X-FLOATING")
		}
		if zone == "" {
			zone = DefaultTimeZone
		}
		zone = strings.TrimPrefix(zone, "/")
		if w, ok := windowsZones[zone]; ok {
			zone = w
		}
		loc, lerr := time.LoadLocation(zone)
		if lerr != nil {
			return Date{}, fmt.Sprintf("time zone %q unknown", zone)
		}
		t, err = time.ParseInLocation("20060102T150405", v, loc)
	}
	if err != nil {
		return Date{}, fmt.Sprintf("%q is not a date", v)
	}
	cst, _ := time.LoadLocation(DefaultTimeZone)
	lt := t.In(cst)
	if lt.Hour() != 0 || lt.Minute() != 0 || lt.Second() != 0 {
		return Date{}, fmt.Sprintf("%s is %s in Beijing time, not midnight: a timed event, not a whole day", v, lt.Format("15:04"))
	}
	return DateOf(lt), ""
}

var icsDuration = regexp.MustCompile(`^\+?P(?:(\d+)W|(\d+)D|T(\d+)H|(\d+)DT0H)$`)

// icsDurationDays reads a DURATION of whole days (P3D, P1W, PT24H).
func icsDurationDays(v string) (int, string) {
	m := icsDuration.FindStringSubmatch(v)
	if m == nil {
		return 0, fmt.Sprintf("%q is not a number of whole days", v)
	}
	n := 0
	for i, mult := range []int{7, 1, 0, 1} {
		if m[i+1] == "" {
			continue
		}
		k, _ := strconv.Atoi(m[i+1])
		if mult == 0 {
			if k%24 != 0 {
				return 0, fmt.Sprintf("%q is not a number of whole days", v)
			}
			k, mult = k/24, 1
		}
		n = k * mult
	}
	return n, ""
}

// icsParam returns the value of the parameter named key in params
// (";TZID=Asia/Shanghai;VALUE=DATE-TIME").
func icsParam(params, key string) string {
	for _, kv := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// icsLine is a logical line and the number of the physical line it
// starts on.
type icsLine struct {
	n    int
	text string
}

// unfoldICS splits the file into logical lines (RFC 5545 §3.1: a line
// starting with a space or tab continues the previous one).
func unfoldICS(b []byte) []icsLine {
	var out []icsLine
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimRight(sc.Text(), "\r")
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(out) > 0 {
			out[len(out)-1].text += l[1:]
			continue
		}
		if strings.TrimSpace(l) != "" {
			out = append(out, icsLine{n, l})
		}
	}
	return out
}

// splitICSLine splits "NAME;PARAMS:VALUE". A parameter value may be
// quoted and hold a colon (TZID="/x:y"), so the value starts at the first
// colon outside quotes.
func splitICSLine(l string) (name, params, value string) {
	quoted, colon := false, -1
	for i, c := range l {
		if c == '"' {
			quoted = !quoted
		} else if c == ':' && !quoted {
			colon = i
			break
		}
	}
	head := l
	if colon >= 0 {
		head, value = l[:colon], l[colon+1:]
	}
	name, params, _ = strings.Cut(head, ";")
	return strings.ToUpper(strings.TrimSpace(name)), params, strings.TrimSpace(value)
}

func unescapeICS(s string) string {
	r := strings.NewReplacer(`\,`, ",", `\;`, ";", `\n`, " ", `\N`, " ", `\\`, `\`)
	return strings.TrimSpace(r.Replace(s))
}

// UnitDays turns a holiday calendar's days into a unit's overrides: each
// holiday an extra day off, each make-up workday a duty day with the
// normal weekday hours.
func UnitDays(h *HolidaySet) []Override {
	var out []Override
	for _, ys := range slices.Sorted(maps.Keys(h.file.Years)) {
		y := h.file.Years[ys]
		for _, g := range y.Holidays {
			for _, d := range g.Days {
				out = append(out, Override{Date: d, Kind: Holiday, Name: g.Name})
			}
		}
		for _, d := range y.Workdays {
			// "春节" makes "春节补班"; a name that says it is worked
			// already ("防汛值班") stays as it is.
			name := y.WorkdayNames[d] + "补班"
			if n := y.WorkdayNames[d]; strings.HasSuffix(n, "班") {
				name = n
			}
			out = append(out, Override{Date: d, Kind: Workday, Name: name})
		}
	}
	slices.SortFunc(out, func(a, b Override) int { return compareDates(a.Date, b.Date) })
	return out
}

// ReplaceYears returns overrides without those in years, plus add.
func ReplaceYears(overrides []Override, years []int, add []Override) []Override {
	out := slices.DeleteFunc(slices.Clone(overrides), func(o Override) bool { return slices.Contains(years, o.Date.Year) })
	out = append(out, add...)
	slices.SortFunc(out, func(a, b Override) int { return compareDates(a.Date, b.Date) })
	return out
}

// OnlyYear returns the set's days in year alone, and how many days of
// other years it left out.
func (h *HolidaySet) OnlyYear(year int) (*HolidaySet, int, error) {
	ys := strconv.Itoa(year)
	left := 0
	for y, v := range h.file.Years {
		if y != ys {
			left += len(v.Workdays)
			for _, g := range v.Holidays {
				left += len(g.Days)
			}
		}
	}
	f := HolidayFile{Source: h.file.Source, Note: h.file.Note, Years: map[string]HolidayYear{}}
	if v, ok := h.file.Years[ys]; ok {
		f.Years[ys] = v
	}
	one, err := NewHolidaySet(f)
	return one, left, err
}
