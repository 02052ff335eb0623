package jt808

import "time"

// cst is GMT+8, the zone of every BCD[6] time in JT/T 808 except 0x8004 (JT/T 808-2019 §8.21,
// 表23: "时间 BCD[6] YY-MM-DD-hh-mm-ss (GMT+8 时间)"). It is never modified.
var cst = time.FixedZone("CST", 8*3600)

// CST returns the fixed GMT+8 zone (China Standard Time, no daylight saving) in which terminals
// report time.
func CST() *time.Location { return cst }

// BCDTime is a raw BCD[6] time, YY MM DD hh mm ss, one two-digit field per byte, as it travels.
// The wire does not say which century or zone it is in: this package reads YY as 20YY, and the
// zone is GMT+8 everywhere except 0x8004 (UTC).
type BCDTime [6]byte

// Time converts b, read as a GMT+8 wall-clock time, to a time.Time in CST.
// It returns an error wrapping ErrBadTime for a non-decimal nibble or an out-of-range field
// (month 0, 31 February, hour 24, second 60, ...); all-zero times, which some terminals send
// before their first fix, are invalid too.
func (b BCDTime) Time() (time.Time, error) { return b.TimeIn(cst) }

// TimeIn converts b, read as a wall-clock time in loc, to a time.Time in loc. Use it for
// terminals known to report in another zone (time.UTC for some imported devices).
// Errors are as for Time.
func (b BCDTime) TimeIn(loc *time.Location) (time.Time, error) {
	var d [6]int
	for i, x := range b {
		hi, lo := x>>4, x&0x0f
		if hi > 9 || lo > 9 {
			return time.Time{}, fieldErr(0, "time", ErrBadTime)
		}
		d[i] = int(hi)*10 + int(lo)
	}
	year, month, day := 2000+d[0], d[1], d[2]
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || d[3] > 23 || d[4] > 59 || d[5] > 59 {
		return time.Time{}, fieldErr(0, "time", ErrBadTime)
	}
	if loc == nil {
		loc = cst
	}
	return time.Date(year, time.Month(month), day, d[3], d[4], d[5], 0, loc), nil
}

// String formats b as "2006-01-02 15:04:05" digit by digit, as sent, without validating it;
// a non-decimal nibble is shown as a hex digit.
func (b BCDTime) String() string {
	buf := [19]byte{'2', '0', 0, 0, '-', 0, 0, '-', 0, 0, ' ', 0, 0, ':', 0, 0, ':', 0, 0}
	pos := [6]int{2, 5, 8, 11, 14, 17}
	for i, x := range b {
		buf[pos[i]] = hexDigits[x>>4]
		buf[pos[i]+1] = hexDigits[x&0x0f]
	}
	return string(buf[:])
}

// NewBCDTime returns t's wall-clock time in GMT+8 as BCD. The wire holds two year digits, so
// only years 2000-2099 survive a round trip; the sub-second part is dropped.
func NewBCDTime(t time.Time) BCDTime { return NewBCDTimeIn(t, cst) }

// NewBCDTimeIn returns t's wall-clock time in loc as BCD (see NewBCDTime).
func NewBCDTimeIn(t time.Time, loc *time.Location) BCDTime {
	if loc == nil {
		loc = cst
	}
	t = t.In(loc)
	y := t.Year() % 100
	if y < 0 {
		y += 100
	}
	return BCDTime{bcd2(y), bcd2(int(t.Month())), bcd2(t.Day()), bcd2(t.Hour()), bcd2(t.Minute()), bcd2(t.Second())}
}

func bcd2(v int) byte { return byte(v/10%10)<<4 | byte(v%10) }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
