// Unit tests of gcj02.js (node --test, run by npm test).

import assert from "node:assert/strict";
import test from "node:test";
import { gcj02ToWgs84, outOfChina, wgs84ToGcj02 } from "../src/gcj02.js";

// metres between two [lat, lon] (haversine on the mean Earth radius).
function metres([lat1, lon1], [lat2, lon2]) {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 +
    Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(Math.min(1, a)));
}

// Published WGS-84 → GCJ-02 pairs, [wgsLat, wgsLon, gcjLat, gcjLon], from
// two independent implementations of the same published algorithm:
// wandergis/coordtransform's example (test/app.js: wgs84togcj02(116.404,
// 39.915)) and googollee/eviltransform's test vectors (Shanghai, Shenzhen,
// Beijing).
const PUBLISHED = [
  [39.915, 116.404, 39.91640428150164, 116.41024449916938], // coordtransform
  [31.1774276, 121.5272106, 31.17530398364597, 121.531541859215], // eviltransform: Shanghai
  [22.543847, 113.912316, 22.540796131694766, 113.9171764808363], // eviltransform: Shenzhen
  [39.911954, 116.377817, 39.91334545536069, 116.38404722455657], // eviltransform: Beijing
];

test("wgs84ToGcj02 gives the published pairs", () => {
  for (const [wLat, wLon, gLat, gLon] of PUBLISHED) {
    const got = wgs84ToGcj02(wLat, wLon);
    // A millimetre: the implementations agree to the last bits.
    assert.ok(metres(got, [gLat, gLon]) < 0.001, `wgs84ToGcj02(${wLat}, ${wLon}) = ${got}, published ${gLat}, ${gLon}`);
    // The shift is the few hundred metres that matter on a map.
    const shift = metres([wLat, wLon], got);
    assert.ok(shift > 100 && shift < 1000, `shift ${shift} m at ${wLat}, ${wLon}`);
  }
});

// grid covers mainland China every half degree (inside the rectangle the
// algorithm treats as China).
function* grid() {
  for (let lat = 18; lat <= 53.5; lat += 0.5) {
    for (let lon = 73.5; lon <= 135; lon += 0.5) yield [lat, lon];
  }
}

test("gcj02ToWgs84 inverts wgs84ToGcj02 to within a centimetre over China", () => {
  let n = 0;
  let worst = 0;
  for (const [lat, lon] of grid()) {
    // GCJ → WGS → GCJ: what the user draws on an AMap base map, saved and
    // drawn again, lands where it was drawn.
    const w = gcj02ToWgs84(lat, lon);
    const back = wgs84ToGcj02(...w);
    worst = Math.max(worst, metres(back, [lat, lon]));
    // The inverse really moves the point (an identity would round-trip
    // nowhere near it, but say so plainly).
    assert.ok(metres(w, [lat, lon]) > 1, `gcj02ToWgs84(${lat}, ${lon}) did not move it`);
    // WGS → GCJ → WGS: a stored fence drawn and saved again keeps its place.
    const g = wgs84ToGcj02(lat, lon);
    worst = Math.max(worst, metres(gcj02ToWgs84(...g), [lat, lon]));
    n++;
  }
  assert.ok(n > 8000, `only ${n} grid points`);
  assert.ok(worst < 0.01, `worst round trip ${worst} m`);
});

test("outside China both directions leave positions as they are", () => {
  const outside = [
    [35.6812, 139.7671], // Tokyo: east of the rectangle
    [51.5074, -0.1278], // London
    [40.7128, -74.006], // New York
    [55.7558, 37.6173], // Moscow: west of it
    [0.5, 110], // south of it
    [56.5, 120], // north of it
    [-33.8688, 151.2093], // Sydney
  ];
  for (const [lat, lon] of outside) {
    assert.equal(outOfChina(lat, lon), true, `${lat}, ${lon}`);
    assert.deepEqual(wgs84ToGcj02(lat, lon), [lat, lon]);
    assert.deepEqual(gcj02ToWgs84(lat, lon), [lat, lon]);
  }
  // Just inside the rectangle's corners, positions are shifted.
  for (const [lat, lon] of [[1, 72.1], [55.7, 137.7], [30.2, 115.04]]) {
    assert.equal(outOfChina(lat, lon), false, `${lat}, ${lon}`);
    assert.ok(metres(wgs84ToGcj02(lat, lon), [lat, lon]) > 1, `${lat}, ${lon} not shifted`);
  }
});
