package alerts

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHolidaysICSRealShape reads the 2025 notice written as the public
// Chinese holiday calendars write it (every style at once: 休/班 words,
// 假期 and 补班 in the SUMMARY, 调休 with CATEGORIES:上班, DATE values,
// midnight in a TZID zone, in UTC and floating, DURATION, a VALARM with a
// SUMMARY of its own, folded lines) and finds the same days as the
// shipped table.
func TestHolidaysICSRealShape(t *testing.T) {
	b, err := os.ReadFile("testdata/holidays-2025.ics")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHolidaysICS(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Years(); !slices.Equal(got, []int{2025}) {
		t.Fatalf("years %v", got)
	}
	fromICS, _ := NewCalendar(CalendarSpec{Week: StandardWeek()}, h)
	shipped, _ := NewCalendar(CalendarSpec{Week: StandardWeek()}, DefaultHolidays())
	for d := MustDate("2025-01-01"); d.Year == 2025; d = d.AddDays(1) {
		k1, n1 := fromICS.DayKind(d)
		k2, n2 := shipped.DayKind(d)
		if k1 != k2 || n1 != n2 {
			t.Errorf("%s: %s %q from the iCalendar file, %s %q shipped", d, k1, n1, k2, n2)
		}
	}
	names := h.File().Years["2025"].WorkdayNames
	for d, want := range map[string]string{"2025-01-26": "春节", "2025-02-08": "春节", "2025-04-27": "劳动节", "2025-09-28": "国庆节、中秋节"} {
		if got := names[MustDate(d)]; got != want {
			t.Errorf("make-up workday %s named %q, want %q", d, got, want)
		}
	}
	// The same days as the shipped notice: the same version.
	one, _, _ := DefaultHolidays().OnlyYear(2025)
	if one.Version() != h.Version() {
		t.Errorf("version %s, shipped 2025 %s", h.Version(), one.Version())
	}
}

// TestHolidaysICSEveryProblem: a bad file is refused with every bad event
// named by its line, not only the first.
func TestHolidaysICSEveryProblem(t *testing.T) {
	b, err := os.ReadFile("testdata/holidays-bad.ics")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseHolidaysICS(b)
	var probs CalendarProblems
	if !errors.As(err, &probs) {
		t.Fatalf("error %v, want CalendarProblems", err)
	}
	want := map[int]string{
		12: "not midnight", // a timed event: 09:00
		13: "not midnight",
		19: "调休 without saying",
		23: "not a weekend day", // 补班 on a Monday
		26: "is also in event",  // 01-02 in 元旦假期 already
		34: "recurring",
		39: "not a date",
	}
	got := map[int]string{}
	for _, p := range probs {
		got[p.Line] = p.Msg
		t.Logf("line %d: %s", p.Line, p.Msg)
	}
	for line, frag := range want {
		if !strings.Contains(got[line], frag) {
			t.Errorf("line %d: %q, want it to say %q", line, got[line], frag)
		}
	}
	if len(probs) != len(want) {
		t.Errorf("%d problems, want %d", len(probs), len(want))
	}
}

func TestICSDay(t *testing.T) {
	for summary, want := range map[string]string{
		"单位集中休假补班": "makeup_workday 单位集中休假", "国庆假期补班": "makeup_workday 国庆", "春节假期": "holiday 春节",
		"单位集中休假": "holiday 单位集中休假", "元旦 休": "holiday 元旦", "春节 班": "makeup_workday 春节", "元旦 休息/补班": "",
	} {
		kind, name, prob := classifyICS(summary, "")
		if got := kind.String() + " " + name; want == "" && prob == "" || want != "" && got != want {
			t.Errorf("%s: %s %q, want %q", summary, got, prob, want)
		}
	}
	for _, c := range []struct {
		params, value string
		want          string // date, or "" for refused
	}{
		{";VALUE=DATE", "20270101", "2027-01-01"},
		{"", "20270101", "2027-01-01"},
		{";TZID=Asia/Shanghai", "20270101T000000", "2027-01-01"},
		{`;TZID="China Standard Time"`, "20270101T000000", "2027-01-01"},
		{"", "20261231T160000Z", "2027-01-01"},                // Beijing midnight in UTC
		{"", "20270101T000000Z", ""},                          // 08:00 in Beijing
		{";TZID=America/New_York", "20270101T000000", ""},     // 13:00 in Beijing
		{";TZID=Asia/Tokyo", "20270101T010000", "2027-01-01"}, // Beijing midnight from Tokyo
		{";X-FLOATING=Asia/Shanghai", "20270101T000000", "2027-01-01"},
		{";TZID=Mars/Olympus", "20270101T000000", ""},
		{"", "2027-01-01", ""},
	} {
		d, prob := icsDay(icsProp{params: c.params, value: c.value})
		switch {
		case c.want == "" && prob == "":
			t.Errorf("%s:%s: %s, want refused", c.params, c.value, d)
		case c.want != "" && (prob != "" || d.String() != c.want):
			t.Errorf("%s:%s: %s %q, want %s", c.params, c.value, d, prob, c.want)
		}
	}
	for v, want := range map[string]int{"P3D": 3, "P1W": 7, "PT48H": 2, "PT12H": -1, "P1DT2H": -1} {
		n, prob := icsDurationDays(v)
		if (want < 0) != (prob != "") || (want >= 0 && n != want) {
			t.Errorf("DURATION %s: %d %q, want %d", v, n, prob, want)
		}
	}
}

func TestUnitDays(t *testing.T) {
	b, _ := os.ReadFile("testdata/holidays-2025.ics")
	h, err := ParseHolidaysICS(b)
	if err != nil {
		t.Fatal(err)
	}
	days := UnitDays(h)
	old := []Override{{Date: MustDate("2024-03-01"), Kind: Holiday, Name: "旧"}, {Date: MustDate("2025-03-03"), Kind: Holiday, Name: "被替换"}}
	all := ReplaceYears(old, []int{2025}, days)
	if len(all) != len(days)+1 || all[0].Name != "旧" {
		t.Fatalf("replaced: %v", all)
	}
	cal, err := NewCalendar(CalendarSpec{Week: StandardWeek(), Overrides: all}, &HolidaySet{days: map[Date]holidayDay{}, years: map[int]bool{}})
	if err != nil {
		t.Fatal(err)
	}
	if k, name := cal.DayKind(MustDate("2025-01-26")); k != Workday || name != "春节补班" {
		t.Errorf("2025-01-26: %s %q", k, name)
	}
	if !cal.IsWorkingTime(at("2025-01-26 09:00")) || cal.IsWorkingTime(at("2025-01-28 09:00")) || !cal.IsWorkingTime(at("2025-03-03 09:00")) {
		t.Error("a unit's days from the calendar file")
	}
}
