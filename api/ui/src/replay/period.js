// Periods for the replay, in Beijing time whatever the browser's zone:
// the shortcuts (yesterday, last weekend, a holiday) and the custom
// inputs' values. Days are "YYYY-MM-DD" strings; a period is
// { from, to } as RFC 3339 with +08:00, to exclusive.

import { formatTime } from "../time.js";

// today is the Beijing date of now.
export function today(now = new Date()) {
  return formatTime(now).slice(0, 10);
}

// addDays moves a "YYYY-MM-DD" by n days (calendar arithmetic in UTC, where
// there is no daylight saving to skip an hour).
export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// weekday is 0 for Sunday … 6 for Saturday.
export function weekday(day) {
  return new Date(`${day}T00:00:00Z`).getUTCDay();
}

// days is the period from the start of first to the end of last.
export function days(first, last) {
  return { from: `${first}T00:00:00+08:00`, to: `${addDays(last, 1)}T00:00:00+08:00` };
}

export function yesterday(now) {
  const d = addDays(today(now), -1);
  return days(d, d);
}

// lastWeekend is the latest Saturday and Sunday that are over: on a
// Monday the weekend just gone, on a Sunday the one before.
export function lastWeekend(now) {
  const d = today(now);
  const back = (weekday(d) + 1) % 7 || 7; // days back to the latest Saturday before today
  let sat = addDays(d, -back);
  if (addDays(sat, 1) >= d) sat = addDays(sat, -7);
  return days(sat, addDays(sat, 1));
}

// holidays lists the holidays of the calendar (GET /api/v1/holidays) that
// have begun, newest first: { name, year, first, last }.
export function holidays(cal, now) {
  const d = today(now);
  const out = [];
  for (const [year, y] of Object.entries(cal.years || {})) {
    for (const h of y.holidays || []) {
      const ds = [...(h.days || [])].sort();
      if (ds.length === 0 || ds[0] > d) continue;
      out.push({ name: h.name, year, first: ds[0], last: ds[ds.length - 1] });
    }
  }
  return out.sort((a, b) => (a.first < b.first ? 1 : -1));
}

// inputValue is a time as a datetime-local input shows it (Beijing), to
// the minute, or to the second when it has seconds (a stop's start).
export function inputValue(t) {
  const s = formatTime(t).replace(" ", "T");
  return s.endsWith(":00") ? s.slice(0, 16) : s;
}

// fromInput reads a datetime-local value as Beijing time.
export function fromInput(v) {
  return v ? `${v.length === 16 ? `${v}:00` : v}+08:00` : "";
}
