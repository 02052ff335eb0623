package alerts

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeZone is the zone rules are judged in when a calendar names
// none: the units this platform serves are in China (GMT+8, no DST).
const DefaultTimeZone = "Asia/Shanghai"

// Date is a civil date (no zone). Its text form is "2006-01-02".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses "2006-01-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("alerts: bad date %q", s)
	}
	return DateOf(t), nil
}

// MustDate is ParseDate for constants; it panics on a bad date, so use it
// only with literals.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns "2006-01-02".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	*d = v
	return err
}

// In returns the midnight that starts d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// Clock is a time of day in minutes after midnight, 0–1440 (1440 is the
// end of the day). Its text form is "15:04".
type Clock int

// ParseClock parses "15:04" (and "24:00").
func ParseClock(s string) (Clock, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("alerts: bad time of day %q", s)
	}
	return Clock(hh*60 + mm), nil
}

// String returns "15:04".
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// MarshalText implements encoding.TextMarshaler.
func (c Clock) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Clock) UnmarshalText(b []byte) error {
	v, err := ParseClock(string(b))
	*c = v
	return err
}

// Period is a working period of a day, [Start, End).
type Period struct {
	Start Clock `json:"start"`
	End   Clock `json:"end"`
}

// Interval is a span of absolute time, [Start, End).
type Interval struct {
	Start, End time.Time
}

// DayKind says what kind of day a date is.
type DayKind uint8

// The kinds of day. Workday and MakeUpWorkday are working days.
const (
	Workday       DayKind = iota + 1 // 工作日
	Weekend                          // 周末
	Holiday                          // 法定节假日 (or a unit's extra day off)
	MakeUpWorkday                    // 调休上班: a weekend day worked with weekday hours
)

var dayKindNames = [...]string{"", "workday", "weekend", "holiday", "makeup_workday"}

// String returns the kind's text form.
func (k DayKind) String() string {
	if int(k) < len(dayKindNames) {
		return dayKindNames[k]
	}
	return "daykind(" + strconv.Itoa(int(k)) + ")"
}

// Working reports whether the day is a working day.
func (k DayKind) Working() bool { return k == Workday || k == MakeUpWorkday }

// MarshalText implements encoding.TextMarshaler.
func (k DayKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *DayKind) UnmarshalText(b []byte) error {
	i := slices.Index(dayKindNames[:], string(b))
	if i <= 0 {
		return fmt.Errorf("alerts: bad day kind %q", b)
	}
	*k = DayKind(i)
	return nil
}

// HolidayFile is the JSON shape of the national holiday calendar (the
// State Council's yearly notice), as in holidays-cn.json.
type HolidayFile struct {
	Source string                 `json:"source,omitempty"`
	Note   string                 `json:"note,omitempty"`
	Years  map[string]HolidayYear `json:"years"`
}

// HolidayYear is one year's notice: holidays by name, and the make-up
// workdays (调休上班), optionally named after the holiday they make up for
// (an iCalendar import keeps the names its file gives them).
type HolidayYear struct {
	Notice       string          `json:"notice,omitempty"`
	Holidays     []HolidayGroup  `json:"holidays"`
	Workdays     []Date          `json:"workdays"`
	WorkdayNames map[Date]string `json:"workday_names,omitempty"`
}

// HolidayGroup is one holiday and its days off.
type HolidayGroup struct {
	Name string `json:"name"`
	Days []Date `json:"days"`
}

// CalendarProblem is one thing wrong with an imported calendar: Line is
// the line of the file it is about (0: the file as a whole, or a file
// without lines, such as JSON).
type CalendarProblem struct {
	Line int
	Msg  string
}

// CalendarProblems lists everything wrong with an imported calendar, so
// that a file is fixed in one go.
type CalendarProblems []CalendarProblem

// maxProblems bounds the problems reported of one file.
const maxProblems = 50

func (ps CalendarProblems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Msg
		if p.Line > 0 {
			msgs[i] = fmt.Sprintf("line %d: %s", p.Line, p.Msg)
		}
	}
	return "alerts: holiday calendar: " + strings.Join(msgs, "; ")
}

func (ps *CalendarProblems) add(line int, format string, args ...any) {
	if len(*ps) == maxProblems {
		*ps = append(*ps, CalendarProblem{0, fmt.Sprintf("more than %d problems: the rest not shown", maxProblems)})
	}
	if len(*ps) > maxProblems {
		return
	}
	*ps = append(*ps, CalendarProblem{line, fmt.Sprintf(format, args...)})
}

type holidayDay struct {
	kind DayKind // Holiday or MakeUpWorkday
	name string
}

// HolidaySet is the national holiday calendar: which dates are holidays
// and which weekend dates are make-up workdays. Dates of years it does not
// cover are judged by the day of the week alone (see Covers).
type HolidaySet struct {
	file    HolidayFile
	days    map[Date]holidayDay
	years   map[int]bool
	version string
}

//go:embed holidays-cn.json
var holidaysCN []byte

// DefaultHolidays returns the calendar shipped with fleetmon (2024–2026,
// from the State Council notices). Each call parses afresh; callers keep
// the result.
func DefaultHolidays() *HolidaySet {
	h, err := ParseHolidaysJSON(holidaysCN)
	if err != nil {
		panic("alerts: embedded holidays-cn.json: " + err.Error()) // a build defect, caught by tests
	}
	return h
}

// ParseHolidaysJSON parses the holidays-cn.json shape and checks it: every
// date lies in its year, no date is both a holiday and a workday, and every
// make-up workday is a Saturday or Sunday.
func ParseHolidaysJSON(b []byte) (*HolidaySet, error) {
	var f HolidayFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, CalendarProblems{{0, "not the holidays-cn.json shape: " + strings.TrimPrefix(err.Error(), "json: ")}}
	}
	return NewHolidaySet(f)
}

// NewHolidaySet checks f and builds the set. Its error is
// CalendarProblems, naming every problem.
func NewHolidaySet(f HolidayFile) (*HolidaySet, error) {
	h := &HolidaySet{file: f, days: map[Date]holidayDay{}, years: map[int]bool{}}
	var probs CalendarProblems
	for _, ys := range slices.Sorted(maps.Keys(f.Years)) {
		y := f.Years[ys]
		year, err := strconv.Atoi(ys)
		if err != nil || year < 1900 || year > 9999 {
			probs.add(0, "bad year %q", ys)
			continue
		}
		h.years[year] = true
		for _, g := range y.Holidays {
			if strings.TrimSpace(g.Name) == "" {
				probs.add(0, "%d: holiday without a name", year)
			}
			for _, d := range g.Days {
				h.add(&probs, year, d, Holiday, g.Name)
			}
		}
		for _, d := range y.Workdays {
			h.add(&probs, year, d, MakeUpWorkday, "")
		}
		for d := range y.WorkdayNames {
			if !slices.Contains(y.Workdays, d) {
				probs.add(0, "%d: %s named but not a make-up workday", year, d)
			}
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	canon, _ := json.Marshal(h.canonical())
	sum := sha256.Sum256(canon)
	h.version = hex.EncodeToString(sum[:8])
	return h, nil
}

func (h *HolidaySet) add(probs *CalendarProblems, year int, d Date, kind DayKind, name string) {
	if d.Year != year {
		probs.add(0, "%d: date %s outside the year", year, d)
		return
	}
	if prev, ok := h.days[d]; ok {
		if prev.kind != kind {
			probs.add(0, "%s is both a holiday and a make-up workday", d)
		} else {
			probs.add(0, "%s listed twice", d)
		}
		return
	}
	if kind == MakeUpWorkday {
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			probs.add(0, "make-up workday %s is a %s, not a weekend day", d, wd)
			return
		}
	}
	h.days[d] = holidayDay{kind, name}
}

// canonical lists the set's content in date order, for hashing.
func (h *HolidaySet) canonical() []string {
	out := make([]string, 0, len(h.days)+len(h.years))
	for y := range h.years {
		out = append(out, "y"+strconv.Itoa(y))
	}
	for d, v := range h.days {
		out = append(out, d.String()+" "+v.kind.String()+" "+v.name)
	}
	slices.Sort(out)
	return out
}

// File returns the set in its JSON shape, for storing. The caller must not
// modify it.
func (h *HolidaySet) File() HolidayFile { return h.file }

// Version identifies the set's content: a hash of its dates.
func (h *HolidaySet) Version() string { return h.version }

// Covers reports whether the set holds the notice for year.
func (h *HolidaySet) Covers(year int) bool { return h.years[year] }

// Years returns the covered years in order.
func (h *HolidaySet) Years() []int {
	ys := make([]int, 0, len(h.years))
	for y := range h.years {
		ys = append(ys, y)
	}
	slices.Sort(ys)
	return ys
}

// Merge returns a set with the years of both; a year present in both is
// taken from other (a corrected notice replaces the old one).
func (h *HolidaySet) Merge(other *HolidaySet) (*HolidaySet, error) {
	f := HolidayFile{Source: h.file.Source, Note: h.file.Note, Years: map[string]HolidayYear{}}
	for y, v := range h.file.Years {
		f.Years[y] = v
	}
	for y, v := range other.file.Years {
		f.Years[y] = v
	}
	return NewHolidaySet(f)
}

// CalendarSpec is a unit's work calendar as stored: working hours per day
// of the week, the zone, and local overrides. The national holidays are
// not part of it; they come from the HolidaySet it is built with.
type CalendarSpec struct {
	ID     int64 `json:"id"`
	UnitID int64 `json:"unit_id"`
	// Revision increases with every edit.
	Revision int `json:"revision"`
	// TimeZone is an IANA zone name; empty means DefaultTimeZone.
	TimeZone string `json:"time_zone,omitempty"`
	// Week holds the working periods of each day of the week, indexed by
	// time.Weekday (0 = Sunday). Weekend entries apply only to a weekend
	// day that is not a day off (never, with the national calendar).
	Week [7][]Period `json:"week"`
	// MakeUpHours are the periods of a make-up workday; nil means Monday's.
	MakeUpHours []Period `json:"makeup_hours,omitempty"`
	// Overrides are the unit's own days: a duty day, an extra day off, or
	// different hours.
	Overrides []Override `json:"overrides,omitempty"`
}

// Override changes one date for one unit. Kind is Workday (a duty day or
// different hours) or Holiday (an extra day off). For a Workday, Periods
// nil means the day's normal weekday hours (Monday's on a weekend).
type Override struct {
	Date    Date     `json:"date"`
	Kind    DayKind  `json:"kind"`
	Name    string   `json:"name,omitempty"`
	Periods []Period `json:"periods,omitempty"`
}

// StandardWeek returns the usual office hours, Monday to Friday 08:30–12:00
// and 14:00–17:30.
func StandardWeek() [7][]Period {
	var w [7][]Period
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = []Period{{8*60 + 30, 12 * 60}, {14 * 60, 17*60 + 30}}
	}
	return w
}

// Calendar is a compiled work calendar: a CalendarSpec judged against a
// HolidaySet. It is immutable and safe for concurrent use.
type Calendar struct {
	spec      CalendarSpec
	loc       *time.Location
	holidays  *HolidaySet
	overrides map[Date]Override
	version   string
}

// NewCalendar checks spec and builds the calendar. holidays nil means
// DefaultHolidays().
func NewCalendar(spec CalendarSpec, holidays *HolidaySet) (*Calendar, error) {
	if holidays == nil {
		holidays = DefaultHolidays()
	}
	zone := spec.TimeZone
	if zone == "" {
		zone = DefaultTimeZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("alerts: calendar %d: time zone: %w", spec.ID, err)
	}
	check := func(what string, ps []Period) error {
		for i, p := range ps {
			if p.Start < 0 || p.End > 24*60 || p.Start >= p.End {
				return fmt.Errorf("alerts: calendar %d: %s: bad period %s–%s", spec.ID, what, p.Start, p.End)
			}
			if i > 0 && p.Start < ps[i-1].End {
				return fmt.Errorf("alerts: calendar %d: %s: periods overlap or are out of order", spec.ID, what)
			}
		}
		return nil
	}
	for d, ps := range spec.Week {
		if err := check(time.Weekday(d).String(), ps); err != nil {
			return nil, err
		}
	}
	if err := check("make-up hours", spec.MakeUpHours); err != nil {
		return nil, err
	}
	c := &Calendar{spec: spec, loc: loc, holidays: holidays, overrides: map[Date]Override{}}
	for _, o := range spec.Overrides {
		if o.Kind != Workday && o.Kind != Holiday {
			return nil, fmt.Errorf("alerts: calendar %d: override %s: kind must be workday or holiday", spec.ID, o.Date)
		}
		if err := check("override "+o.Date.String(), o.Periods); err != nil {
			return nil, err
		}
		if _, dup := c.overrides[o.Date]; dup {
			return nil, fmt.Errorf("alerts: calendar %d: override %s given twice", spec.ID, o.Date)
		}
		c.overrides[o.Date] = o
	}
	canon, _ := json.Marshal(spec)
	sum := sha256.Sum256(append(canon, holidays.version...))
	c.version = fmt.Sprintf("cal%d.r%d.%s", spec.ID, spec.Revision, hex.EncodeToString(sum[:6]))
	return c, nil
}

// Spec returns the calendar's spec. The caller must not modify it.
func (c *Calendar) Spec() CalendarSpec { return c.spec }

// Location returns the zone rules are judged in.
func (c *Calendar) Location() *time.Location { return c.loc }

// Version identifies the calendar's content (spec and holidays); a verdict
// records it.
func (c *Calendar) Version() string { return c.version }

// DayKind tells what kind of day d is for this unit, and the holiday's
// (or override's) name.
func (c *Calendar) DayKind(d Date) (DayKind, string) {
	if o, ok := c.overrides[d]; ok {
		return o.Kind, o.Name
	}
	if h, ok := c.holidays.days[d]; ok {
		return h.kind, h.name
	}
	if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return Weekend, ""
	}
	return Workday, ""
}

// periods returns the working periods of d as clock times. The returned
// slice belongs to the calendar and must not be modified.
func (c *Calendar) periods(d Date) []Period {
	kind, _ := c.DayKind(d)
	if o, ok := c.overrides[d]; ok && o.Kind == Workday && o.Periods != nil {
		return o.Periods
	}
	switch kind {
	case Workday:
		wd := d.Weekday()
		if wd == time.Saturday || wd == time.Sunday {
			return c.makeUp() // a duty day on a weekend
		}
		return c.spec.Week[wd]
	case MakeUpWorkday:
		return c.makeUp()
	}
	return nil
}

func (c *Calendar) makeUp() []Period {
	if c.spec.MakeUpHours != nil {
		return c.spec.MakeUpHours
	}
	return c.spec.Week[time.Monday]
}

// WorkingPeriods returns the working periods of d in absolute time, in
// order. The caller owns the slice.
func (c *Calendar) WorkingPeriods(d Date) []Interval {
	ps := c.periods(d)
	out := make([]Interval, len(ps))
	for i, p := range ps {
		out[i] = Interval{c.at(d, p.Start), c.at(d, p.End)}
	}
	return out
}

func (c *Calendar) at(d Date, m Clock) time.Time {
	return time.Date(d.Year, d.Month, d.Day, int(m)/60, int(m)%60, 0, 0, c.loc)
}

// IsWorkingTime reports whether t falls in a working period of its local
// day.
func (c *Calendar) IsWorkingTime(t time.Time) bool {
	return c.status(t).working
}

// calStatus is what the calendar says about an instant, valid on
// [from, until).
type calStatus struct {
	working     bool
	kind        DayKind
	name        string
	from, until time.Time
}

// status says whether t is working time, the kind of its day, and the
// span around t over which that holds.
func (c *Calendar) status(t time.Time) calStatus {
	lt := t.In(c.loc)
	d := DateOf(lt)
	kind, name := c.DayKind(d)
	st := calStatus{kind: kind, name: name, from: d.In(c.loc), until: d.AddDays(1).In(c.loc)}
	for _, p := range c.periods(d) {
		s, e := c.at(d, p.Start), c.at(d, p.End)
		switch {
		case t.Before(s):
			st.until = s
			return st
		case t.Before(e):
			st.working, st.from, st.until = true, s, e
			return st
		default:
			st.from = e
		}
	}
	return st
}

// Calendars resolves the calendar of a unit: its own, else its nearest
// ancestor's, else the default. Immutable and safe for concurrent use.
type Calendars struct {
	tree OrgTree
	def  *Calendar
	own  map[int64]*Calendar
}

// ErrNoCalendar is returned by NewCalendars without a default calendar.
var ErrNoCalendar = errors.New("alerts: no default calendar")

// NewCalendars builds the resolver; own are the units' calendars, keyed by
// their spec's UnitID.
func NewCalendars(tree OrgTree, def *Calendar, own ...*Calendar) (*Calendars, error) {
	if def == nil {
		return nil, ErrNoCalendar
	}
	cs := &Calendars{tree: tree, def: def, own: map[int64]*Calendar{}}
	for _, c := range own {
		if _, dup := cs.own[c.spec.UnitID]; dup {
			return nil, fmt.Errorf("alerts: unit %d has two calendars", c.spec.UnitID)
		}
		cs.own[c.spec.UnitID] = c
	}
	return cs, nil
}

// For returns the calendar that applies to unit.
func (cs *Calendars) For(unit int64) *Calendar {
	return inherited(cs.tree, unit, cs.own, cs.def)
}
