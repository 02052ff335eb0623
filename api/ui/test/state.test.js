// Unit tests of live/state.js (node --test, run by npm test): the live map
// shows the state the server sends, and decides nothing by its own clock.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import test from "node:test";

const { stateOf } = await import("../src/live/state.js");

const vehicle = (over) => ({ openAlerts: new Set(), serverState: "", sealed: false, pos: null, ...over });
const pos = (over) => ({ ms: Date.parse("2026-01-01T00:00:00Z"), alarm: 0, speed_kmh: 0, ...over });

test("the server's state is shown; an open alert shows as alarm", () => {
  assert.equal(stateOf(vehicle({ serverState: "offline", pos: pos() })), "offline");
  assert.equal(stateOf(vehicle({ serverState: "parked", pos: pos() })), "parked");
  assert.equal(stateOf(vehicle({ serverState: "offline", pos: pos(), openAlerts: new Set([1]) })), "alarm");
});

// Whether a silent vehicle is offline is fleetd serve --offline-after's to
// say (the stream's state events): a position long past is not made
// offline here, by another threshold and the browser's clock.
test("no offline by the browser's clock", () => {
  // Called as the page did before, with the browser's time.
  assert.equal(stateOf(vehicle({ pos: pos() }), Date.now()), "parked");
  assert.equal(stateOf(vehicle({ pos: pos({ speed_kmh: 40 }) })), "moving");
  assert.equal(stateOf(vehicle({ pos: pos({ alarm: 1 }) })), "alarm");
  assert.equal(stateOf(vehicle({ sealed: true, pos: pos() })), "sealed");
  assert.equal(stateOf(vehicle({})), "nodata");
});

// One toast for every page: toast.js.
test("one toast", () => {
  const root = new URL("../src/", import.meta.url);
  const defs = readdirSync(root, { recursive: true }).filter((f) => f.endsWith(".js"))
    .filter((f) => /function toast\b|const toast\s*=/.test(readFileSync(new URL(f, root), "utf8")));
  assert.deepEqual(defs, ["toast.js"]);
});
