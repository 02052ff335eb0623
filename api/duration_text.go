package api

import (
	"strconv"
	"time"
)

// durationZh writes a span of s seconds as the evidence report shows it, in
// Chinese units to the second: "2分0秒", "1小时5分30秒", "45秒". Go's own
// form ("2m0s") is no way to show a time to the people who read the report.
func durationZh(s float64) string {
	d := (time.Duration(s*float64(time.Second)) + time.Second/2) / time.Second
	if d < 0 {
		d = 0
	}
	h, m, sec := int64(d/3600), int64(d%3600/60), int64(d%60)
	var b []byte
	if h > 0 {
		b = append(strconv.AppendInt(b, h, 10), "小时"...)
	}
	if h > 0 || m > 0 {
		b = append(strconv.AppendInt(b, m, 10), "分"...)
	}
	return string(append(strconv.AppendInt(b, sec, 10), "秒"...))
}
