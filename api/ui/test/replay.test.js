// Unit tests of the replay page's speed series and colours (node --test):
// the chart keeps every peak, and every vehicle's plate label is legible.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";

const { minMaxPerBucket, speedTable } = await import("../src/replay/series.js");

const ms0 = Date.parse("2026-11-21T01:00:00Z");

// A straight drive at 30–40 km/h with one report at 46.9; the display
// points (simplified for the map) keep only the ends.
function drive() {
  const t = [];
  const kmh = [];
  for (let i = 0; i < 5000; i++) {
    t.push(ms0 + i * 10000);
    kmh.push(i === 3210 ? 46.9 : 30 + (i % 10));
  }
  return {
    speed_series: { t, kmh },
    points: [{ ms: t[0], speed_kmh: 30 }, { ms: t[t.length - 1], speed_kmh: 39 }],
    gapsMs: [{ fromMs: t[2000], toMs: t[2001] }],
  };
}

test("the chart is drawn from the speed series, not the display points", () => {
  const [xs, ys] = speedTable(drive());
  assert.equal(Math.max(...ys.filter((y) => y != null)), 46.9);
  assert.equal(ys.filter((y) => y === null).length, 1, "a break at the gap");
  assert.equal(xs.length, 5001);
});

test("reducing to the chart's width keeps every peak and the breaks", () => {
  const [xs, ys] = minMaxPerBucket(speedTable(drive()), 300);
  // Two per bucket, the ends, and a break splits its bucket in two.
  assert.ok(xs.length <= 2 * 300 + 2 + 3, `${xs.length} points`);
  assert.equal(Math.max(...ys.filter((y) => y != null)), 46.9);
  assert.equal(Math.min(...ys.filter((y) => y != null)), 30);
  assert.equal(ys.filter((y) => y === null).length, 1);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] >= xs[i - 1], "in time order");
});

test("an older answer without a speed series falls back to the points", () => {
  const r = drive();
  delete r.speed_series;
  const [, ys] = speedTable(r);
  assert.deepEqual(ys, [30, null, 39]);
});

// WCAG contrast of two #rrggbb colours.
function contrast(a, b) {
  const lum = (h) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16) / 255)
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const full = (h) => (h.length === 4 ? `#${h[1]}${h[1]}${h[2]}${h[2]}${h[3]}${h[3]}` : h);

test("every vehicle's plate label is legible on its colour (4.5:1)", () => {
  const js = readFileSync(new URL("../src/replay/track.js", import.meta.url), "utf8");
  const colors = JSON.parse(js.match(/VEHICLE_COLORS = (\[[^\]]*\])/)[1]);
  const css = readFileSync(new URL("../src/replay/replay.css", import.meta.url), "utf8");
  // The plate's text colour: its vehicle class's --fg, else what .rp-plate
  // says itself.
  const plate = css.match(/\.rp-plate \{[^}]*[^-]color: (#[0-9a-f]+)/)?.[1];
  colors.forEach((bg, i) => {
    const cls = css.match(new RegExp(`\\.veh-${i} \\{[^}]*--c: (#[0-9a-f]+);[^}]*--fg: (#[0-9a-f]+)`));
    assert.ok(!cls || cls[1] === bg, `veh-${i} is coloured ${cls?.[1]}, the track ${bg}`);
    const fg = full(cls?.[2] ?? plate ?? "#ffffff");
    assert.ok(contrast(bg, fg) >= 4.5, `vehicle ${i}: ${fg} on ${bg}, ${contrast(bg, fg).toFixed(1)}:1`);
  });
});

test("the speed legend's swatches are coloured by CSS classes, one per speed class", () => {
  const js = readFileSync(new URL("../src/replay/track.js", import.meta.url), "utf8");
  const classes = [...js.matchAll(/\[(?:\d+|Infinity), "(#[0-9a-f]+)"\]/g)].map((m) => m[1]);
  const css = readFileSync(new URL("../src/replay/replay.css", import.meta.url), "utf8");
  classes.forEach((col, i) => {
    assert.match(css, new RegExp(`i\\.sw-${i} \\{ background: ${col}; \\}`), `swatch ${i}`);
  });
});
