// Unit tests (node --test, run by npm test): text from the server goes into
// the page as text, never as HTML. A fence, unit or rule name is the
// server's text, and anyone who may name a fence may choose
// "<img src=x onerror=…>": Leaflet would parse a string given as a
// tooltip or a divIcon's html as HTML.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import test from "node:test";

const EVIL = `<img src=x onerror=alert(1)><b id=x>`;

// A minimal DOM: elements made with createElement, text appended as text
// nodes. Nothing here parses HTML, so a string that reaches the page as
// HTML is seen as a string, which the tests refuse.
class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.childNodes = [];
    this.dataset = {};
    this.style = { setProperty: (k, v) => (this.style[k] = v) };
  }
  append(...nodes) {
    for (const n of nodes) this.childNodes.push(typeof n === "string" ? { nodeType: 3, textContent: n } : n);
  }
  get textContent() {
    return this.childNodes.map((n) => n.textContent).join("");
  }
}
const stored = new Map();
const storage = {
  getItem: (k) => (stored.has(k) ? stored.get(k) : null),
  setItem: (k, v) => stored.set(k, String(v)),
  removeItem: (k) => stored.delete(k),
};
globalThis.localStorage = storage;
globalThis.sessionStorage = storage;
globalThis.document = {
  createElement: (tag) => new FakeElement(tag),
  addEventListener() {},
  documentElement: { lang: "zh" },
};

// fakeLeaflet records what each layer is given to show.
function fakeLeaflet() {
  const layers = [];
  const layer = (kind, ...args) => {
    const l = { kind, args, tooltip: undefined, popup: undefined };
    for (const m of ["addTo", "on", "setLatLng", "setStyle"]) l[m] = () => l;
    l.bindTooltip = (c) => ((l.tooltip = c), l);
    l.bindPopup = (c) => ((l.popup = c), l);
    layers.push(l);
    return l;
  };
  const group = () => ({ addTo: () => group(), clearLayers() {}, addLayer() {}, remove() {} });
  const L = {
    featureGroup: group,
    layerGroup: group,
    polygon: (...a) => layer("polygon", ...a),
    circle: (...a) => layer("circle", ...a),
    polyline: (...a) => layer("polyline", ...a),
    circleMarker: (...a) => layer("circleMarker", ...a),
    marker: (...a) => layer("marker", ...a),
    divIcon: (o) => ({ divIcon: o }),
    latLngBounds: () => null,
  };
  const map = { on() {}, whenReady() {}, getZoom: () => 12 };
  return { L, map, layers };
}

// shownAsText checks that content, given to Leaflet to show, is an element
// holding want as text.
function shownAsText(what, content, want) {
  assert.notEqual(typeof content, "string", `${what} is given to Leaflet as an HTML string: ${content}`);
  assert.ok(content instanceof FakeElement, `${what}: ${content}`);
  assert.ok(content.textContent.includes(want), `${what} shows ${content.textContent}, not ${want}`);
}

const fence = {
  id: 7, name: EVIL, kind: "prohibited", shape: { type: "circle", center: { lat: 30.2, lon: 115 }, radius_m: 300 },
};

test("a fence's name is its tooltip's text", async () => {
  globalThis.fetch = async () => ({ ok: true, status: 200, json: async () => ({ items: [fence] }) });
  const { createFences } = await import("../src/fences.js");
  const { L, map, layers } = fakeLeaflet();
  const fences = createFences(L, map, { project: (lat, lon) => [lat, lon], unproject: (lat, lon) => [lat, lon] });
  await fences.load();
  assert.equal(layers.length, 1);
  shownAsText("the fence's tooltip", layers[0].tooltip, EVIL);
});

test("a replay's stops, alerts and plate are text", async () => {
  const { createTrackLayer } = await import("../src/replay/track.js");
  const { L, map, layers } = fakeLeaflet();
  const at = (min) => new Date(Date.UTC(2026, 10, 21, 2, min)).toISOString();
  const pt = (min, speed) => ({ time: at(min), ms: Date.parse(at(min)), lat: 30.2, lon: 115 + min / 1000, speed_kmh: speed,
    heading: 90, backfill: false });
  const r = {
    plate: EVIL,
    points: [pt(0, 40), pt(1, 0), pt(20, 0), pt(21, 40)],
    gaps: [], gapsMs: [],
    stops: [{ from: at(1), to: at(20), duration_s: 1140, lat: 30.2, lon: 115.001, fences: [{ id: 7, name: EVIL }] }],
    alerts: [{ rule: { id: `x"><b id=y>`, name: EVIL }, start: at(5), start_place: { lat: 30.2, lon: 115.001 } }],
  };
  createTrackLayer(L, map, r, "#16365f", { project: (lat, lon) => [lat, lon], onStop() {}, onAlert() {} });
  const markers = layers.filter((l) => l.kind === "marker");
  assert.equal(markers.length, 3, "a stop, an alert and the vehicle");
  const [stop, alert, vehicle] = markers;
  shownAsText("the stop's tooltip", stop.tooltip, EVIL);
  shownAsText("the alert's tooltip", alert.tooltip, EVIL);
  for (const [what, m] of [["the stop's icon", stop], ["the alert's icon", alert], ["the vehicle's icon", vehicle]]) {
    assert.notEqual(typeof m.args[1].icon.divIcon.html, "string", `${what} is HTML: ${m.args[1].icon.divIcon.html}`);
  }
  shownAsText("the vehicle's plate", vehicle.args[1].icon.divIcon.html, EVIL);
  assert.equal(alert.args[1].icon.divIcon.html.dataset.rule, `x"><b id=y>`);
});

// Every page's script: nothing is set as HTML, and Leaflet is never given
// an HTML string built from data (a template or a concatenation).
test("no script inserts HTML", () => {
  const root = new URL("../src/", import.meta.url);
  const files = readdirSync(root, { recursive: true }).filter((f) => f.endsWith(".js")).map((f) => new URL(f, root));
  files.push(new URL("../../login.js", import.meta.url));
  const bad = [
    /\.innerHTML\s*=/, /\.outerHTML\s*=/, /insertAdjacentHTML/, /document\.write/, /createContextualFragment/,
    /\.(bindTooltip|bindPopup|setContent|setTooltipContent|setPopupContent)\(\s*[`"'\w]/, /\bhtml:\s*[`"'\w]/,
  ];
  const found = [];
  for (const f of files) {
    readFileSync(f, "utf8").split("\n").forEach((line, i) => {
      for (const re of bad) {
        if (re.test(line) && !/\b(textTip|el)\(/.test(line)) found.push(`${f.pathname.split("/api/").pop()}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(found, [], `HTML from strings:\n${found.join("\n")}`);
});
