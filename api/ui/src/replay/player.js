// The playback clock: one time axis (ms) for every vehicle replayed, played
// at ×1 … ×64, where ×1 is a minute of track a second (a weekend at ×64
// takes under a minute), and where each vehicle is at a given time.

export const SPEEDS = [1, 2, 4, 8, 16, 32, 64];

// TRACK_MS_PER_SECOND at ×1.
const TRACK_MS_PER_SECOND = 60 * 1000;

// createPlayer drives onTime(t) from requestAnimationFrame while playing.
export function createPlayer({ onTime, onState }) {
  let start = 0;
  let end = 0;
  let t = 0;
  let speedIdx = 3;
  let playing = false;
  let last = 0;
  let raf = 0;

  function frame(now) {
    if (!playing) return;
    const dt = last ? now - last : 0;
    last = now;
    t = Math.min(end, t + (dt / 1000) * TRACK_MS_PER_SECOND * SPEEDS[speedIdx]);
    onTime(t);
    if (t >= end) {
      pause();
      return;
    }
    raf = requestAnimationFrame(frame);
  }

  function pause() {
    playing = false;
    cancelAnimationFrame(raf);
    onState();
  }

  const p = {
    setRange(a, b) {
      start = a;
      end = b;
      t = a;
      pause();
      onTime(t);
    },
    time: () => t,
    range: () => [start, end],
    playing: () => playing,
    speed: () => SPEEDS[speedIdx],
    play() {
      if (playing || end <= start) return;
      if (t >= end) t = start;
      playing = true;
      last = 0;
      raf = requestAnimationFrame(frame);
      onState();
    },
    pause,
    toggle() {
      if (playing) pause();
      else p.play();
    },
    seek(x) {
      t = Math.max(start, Math.min(end, x));
      onTime(t);
    },
    setSpeed(s) {
      const i = SPEEDS.indexOf(Number(s));
      if (i >= 0) speedIdx = i;
      onState();
    },
    faster() {
      speedIdx = Math.min(SPEEDS.length - 1, speedIdx + 1);
      onState();
    },
    slower() {
      speedIdx = Math.max(0, speedIdx - 1);
      onState();
    },
  };
  return p;
}

// locate returns where a vehicle's points (each with ms) put it at t:
// { i, lat, lon, speed, inGap, before, after }. Between two points it
// moves along the straight line, except across a gap in the data, where
// it stays at the last report and inGap is set: the page never invents
// where an unseen vehicle went.
export function locate(pts, gaps, t) {
  if (pts.length === 0) return null;
  if (t <= pts[0].ms) return { i: 0, lat: pts[0].lat, lon: pts[0].lon, speed: pts[0].speed_kmh, inGap: false, before: true };
  const n = pts.length;
  if (t >= pts[n - 1].ms) return { i: n - 1, lat: pts[n - 1].lat, lon: pts[n - 1].lon, speed: pts[n - 1].speed_kmh, inGap: false, after: true };
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (pts[mid].ms <= t) lo = mid;
    else hi = mid;
  }
  const a = pts[lo];
  const b = pts[hi];
  if (gaps.some((g) => g.fromMs <= a.ms && g.toMs >= b.ms)) {
    return { i: lo, lat: a.lat, lon: a.lon, speed: 0, inGap: true };
  }
  const f = (t - a.ms) / (b.ms - a.ms);
  return { i: lo, lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f,
    speed: a.speed_kmh + (b.speed_kmh - a.speed_kmh) * f, inGap: false };
}
