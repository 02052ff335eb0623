// Unit tests of time.js (node --test, run by npm test): Beijing time
// whatever the zone the browser (here, the process) is in, and durations.

import assert from "node:assert/strict";
import test from "node:test";

// i18n.js reads the language chosen from the browser's localStorage, which
// Node has not: a Map stands in for it (no language chosen: Chinese).
const stored = new Map();
globalThis.localStorage = {
  getItem: (k) => (stored.has(k) ? stored.get(k) : null),
  setItem: (k, v) => stored.set(k, String(v)),
  removeItem: (k) => stored.delete(k),
};

// The module is loaded in a zone far from Beijing, so that a formatter
// falling back to the local zone shows the wrong time.
process.env.TZ = "America/New_York";
const { formatClock, formatDuration, formatTime, toRFC3339 } = await import("../src/time.js");

// ZONES: [zone, the local hour of 2026-11-20T02:00:00Z there]. Each is
// checked to be in effect before the formatting is.
const ZONES = [
  ["America/New_York", 21],
  ["UTC", 2],
  ["Europe/Berlin", 3],
  ["Asia/Kolkata", 7],
  ["Pacific/Auckland", 15],
  ["Asia/Shanghai", 10],
];

test("formatTime shows Beijing time in every zone", () => {
  for (const [zone, hour] of ZONES) {
    process.env.TZ = zone;
    const d = new Date("2026-11-20T02:00:00Z");
    assert.equal(d.getHours(), hour, `the process is not in ${zone}`);
    assert.equal(formatTime("2026-11-20T02:00:00Z"), "2026-11-20 10:00:00", zone);
    assert.equal(formatTime(d), "2026-11-20 10:00:00", zone);
    assert.equal(formatTime("2026-11-20T10:00:00+08:00"), "2026-11-20 10:00:00", zone);
    // Beijing's midnight starts the next day and year there (never 24:00).
    assert.equal(formatTime("2026-12-31T16:00:00Z"), "2027-01-01 00:00:00", zone);
    assert.equal(formatTime("2026-12-31T15:59:59Z"), "2026-12-31 23:59:59", zone);
    assert.equal(formatClock("2026-12-31T16:00:05Z"), "00:00:05", zone);
    assert.equal(formatClock(new Date("2026-11-20T13:30:00Z")), "21:30:00", zone);
  }
});

test("formatTime shows a dash for no time or a bad one", () => {
  for (const v of [null, undefined, "", "yesterday", new Date(NaN)]) {
    assert.equal(formatTime(v), "—", String(v));
  }
});

test("toRFC3339 writes Beijing time that parses back to the same instant", () => {
  for (const [zone] of ZONES) {
    process.env.TZ = zone;
    for (const iso of ["2026-11-20T02:00:00Z", "2026-12-31T16:00:00Z", "2026-06-30T23:59:59Z"]) {
      const d = new Date(iso);
      const s = toRFC3339(d);
      assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/, `${zone} ${s}`);
      assert.equal(Date.parse(s), d.getTime(), `${zone}: ${s} is not ${iso}`);
    }
    assert.equal(toRFC3339(new Date("2026-12-31T16:00:00Z")), "2027-01-01T00:00:00+08:00", zone);
  }
});

test("formatDuration shows hours and minutes, rounded to the minute", () => {
  const cases = [
    [0, "0 分"],
    [29, "0 分"],
    [30, "1 分"],
    [2700, "45 分"],
    [3569, "59 分"],
    [3570, "1 小时 0 分"], // 59.5 minutes round up to the hour
    [3600, "1 小时 0 分"],
    [7500, "2 小时 5 分"],
    [86400 + 61, "24 小时 1 分"],
  ];
  for (const [s, want] of cases) assert.equal(formatDuration(s), want, `${s} s`);
});
