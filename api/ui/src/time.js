// Times are shown in Beijing time (GMT+8), whatever the browser's zone;
// durations in hours and minutes, in the page's language.

import { t as tr } from "./i18n.js";

const fmt = new Intl.DateTimeFormat("sv-SE", {
  timeZone: "Asia/Shanghai",
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

// formatTime shows an RFC 3339 time (or Date) as 2026-11-20 10:00:00.
export function formatTime(t) {
  if (!t) return "—";
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? "—" : fmt.format(d);
}

// formatClock shows only the time of day.
export function formatClock(t) {
  return formatTime(t).slice(11);
}

// toRFC3339 writes a Date in GMT+8, as the API's examples do.
export function toRFC3339(d) {
  return formatTime(d).replace(" ", "T") + "+08:00";
}

// formatDuration shows s seconds as hours and minutes (rounded to the
// minute): "2 小时 5 分", "45 分".
export function formatDuration(s) {
  const m = Math.round(s / 60);
  const h = Math.floor(m / 60);
  return h > 0 ? tr("dur.hm", { h, m: m % 60 }) : tr("dur.m", { m });
}
