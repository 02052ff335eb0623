// The speed chart's data, apart from drawing it (unit-tested with node).

// speedTable returns a replay's speed curve as the chart draws it, [xs
// (Unix seconds), ys (km/h)], with a null just after each gap's start so
// that the line breaks there. It is drawn from speed_series, the slowest
// and fastest report of each span of the period as the server picks them:
// the display track (points) is simplified for the map and drops a peak on
// a straight road, so a 46.9 km/h maximum would be drawn at 40.
export function speedTable(r) {
  const s = r.speed_series?.t?.length
    ? r.speed_series.t.map((ms, i) => ({ ms, kmh: r.speed_series.kmh[i] }))
    : r.points.map((p) => ({ ms: p.ms, kmh: p.speed_kmh }));
  const xs = [];
  const ys = [];
  let g = 0;
  for (const p of s) {
    while (g < r.gapsMs.length && r.gapsMs[g].fromMs < p.ms) {
      xs.push((r.gapsMs[g].fromMs + 1000) / 1000);
      ys.push(null);
      g++;
    }
    xs.push(p.ms / 1000);
    ys.push(p.kmh);
  }
  return [xs, ys];
}

// minMaxPerBucket reduces [xs, ys] to at most 2 points per bucket of n
// equal spans of xs (the slowest and the fastest, in time order), keeping
// the first and last points and every null (a break at a gap): a chart
// narrower than its data keeps every peak.
export function minMaxPerBucket([xs, ys], n) {
  if (xs.length <= 2 * n + 2) return [xs, ys];
  const x0 = xs[0];
  const span = xs[xs.length - 1] - x0 || 1;
  const ox = [xs[0]];
  const oy = [ys[0]];
  let i = 1;
  while (i < xs.length - 1) {
    if (ys[i] == null) {
      ox.push(xs[i]);
      oy.push(null);
      i++;
      continue;
    }
    const b = Math.floor(((xs[i] - x0) / span) * n);
    let lo = i;
    let hi = i;
    let j = i + 1;
    for (; j < xs.length - 1 && ys[j] != null && Math.floor(((xs[j] - x0) / span) * n) === b; j++) {
      if (ys[j] < ys[lo]) lo = j;
      if (ys[j] > ys[hi]) hi = j;
    }
    for (const k of lo === hi ? [lo] : [Math.min(lo, hi), Math.max(lo, hi)]) {
      ox.push(xs[k]);
      oy.push(ys[k]);
    }
    i = j;
  }
  ox.push(xs[xs.length - 1]);
  oy.push(ys[ys.length - 1]);
  return [ox, oy];
}
