package alerts

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a span of time in the rules' parameters, written and read
// the way people write it: "5m", "90s", "1h30m", or with Chinese units
// ("5 分钟", "90 秒", "2 小时"). Its JSON is always such a string, never a
// count of nanoseconds: a bare number is refused, since nobody can tell
// whether 5 means seconds, minutes or nanoseconds. Where a number of
// minutes is what people write, the parameter table (paramdefs.go)
// accepts it and turns it into a string first.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns d in the shortest human form: "3m", "1m30s", "2h",
// "1h30m", "0s".
func (d Duration) String() string {
	t := time.Duration(d)
	if t == 0 {
		return "0s"
	}
	var b strings.Builder
	if t < 0 {
		b.WriteByte('-')
		t = -t
	}
	if t%time.Second != 0 {
		return time.Duration(d).String() // sub-second: Go's own form is exact
	}
	h, m, s := t/time.Hour, t%time.Hour/time.Minute, t%time.Minute/time.Second
	if h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
	}
	if m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
	}
	if s > 0 {
		b.WriteString(strconv.FormatInt(int64(s), 10) + "s")
	}
	return b.String()
}

// durationUnits are the unit words accepted beside Go's own (h, m, s),
// longest first so that "分钟" is replaced before "分".
var durationUnits = strings.NewReplacer(
	"小时", "h", "钟头", "h", "分钟", "m", "秒钟", "s", "分", "m", "秒", "s",
	"hours", "h", "hour", "h", "hrs", "h", "hr", "h",
	"minutes", "m", "minute", "m", "mins", "m", "min", "m",
	"seconds", "s", "second", "s", "secs", "s", "sec", "s",
)

// ParseDuration reads a duration as people write it: a number with a unit
// ("5m", "90s", "1h30m", "5 分钟", "1.5 小时", "5 min"). A number without a
// unit is refused: its unit would be a guess.
func ParseDuration(s string) (Duration, error) {
	in := strings.Join(strings.Fields(strings.ToLower(s)), "")
	if in == "" {
		return 0, fmt.Errorf("时长为空 (empty duration): write one such as \"5m\" or \"90s\"")
	}
	if _, err := strconv.ParseFloat(in, 64); err == nil {
		return 0, fmt.Errorf("时长 %q 没有单位 (duration without a unit): write \"%sm\" for minutes or \"%ss\" for seconds", s, in, in)
	}
	d, err := time.ParseDuration(durationUnits.Replace(in))
	if err != nil {
		return 0, fmt.Errorf("无法识别的时长 %q (not a duration): write one such as \"5m\", \"90s\", \"1h30m\" or \"5 分钟\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("时长 %q 为负 (negative duration)", s)
	}
	return Duration(d), nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON accepts only a string (see Duration).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("时长要写成带单位的字符串 (a duration is a string with its unit), such as \"5m\" or \"90s\", not %s", b)
	}
	v, err := ParseDuration(s)
	*d = v
	return err
}
