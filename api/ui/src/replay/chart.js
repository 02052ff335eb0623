// The speed/time chart under the map: one line per vehicle on the shared
// time axis (Beijing time), broken at every gap in the data, drawn from the
// server's speed series (every span's slowest and fastest report, so no
// peak is lost), with the playback time as a vertical line; a click seeks
// there. Drawn by uPlot:
// tens of thousands of points redraw within a frame on a canvas, which
// the playhead needs 60 times a second.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";
import { minMaxPerBucket, speedTable } from "./series.js";

// createChart draws replays (points with ms, gapsMs) in el, coloured
// colors[i]; now() is the playback time (ms); onSeek(ms) on a click.
export function createChart(el, replays, colors, { now, onSeek }) {
  // At most two points per pixel column, the slowest and the fastest:
  // every peak drawn where it was.
  const columns = Math.max(200, el.clientWidth || 800);
  const tables = replays.map((r) => minMaxPerBucket(speedTable(r), columns));
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables, tables.map(() => [0, 1]));
  const opts = {
    width: el.clientWidth || 800,
    height: el.clientHeight || 140,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Asia/Shanghai"),
    legend: { show: replays.length > 1 },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(60, Math.ceil((hi || 0) / 20) * 20)] } },
    // Ticks in Beijing time as the tables show it: 11-21 04:00.
    axes: [{ space: 110, values: (u, splits) => splits.map((s) => formatTime(new Date(s * 1000)).slice(5, 16)) },
      { label: t("replay.speedAxis"), size: 50 }],
    series: [{}, ...replays.map((r, i) => ({ label: r.plate, stroke: colors[i], width: 1.5, spanGaps: false,
      value: (u, v) => (v == null ? "—" : `${v} km/h`) }))],
    hooks: {
      draw: [(u) => {
        const x = u.valToPos(now() / 1000, "x", true);
        const { ctx, bbox } = u;
        ctx.save();
        ctx.strokeStyle = "#d93025";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(x, bbox.top);
        ctx.lineTo(x, bbox.top + bbox.height);
        ctx.stroke();
        ctx.restore();
      }],
    },
  };
  el.replaceChildren();
  const u = new uPlot(opts, data, el);
  u.over.addEventListener("click", (ev) => onSeek(u.posToVal(ev.offsetX, "x") * 1000));
  const resize = () => u.setSize({ width: el.clientWidth, height: el.clientHeight || 140 });
  window.addEventListener("resize", resize);
  return {
    // playhead redraws the playback line only (the series stay cached).
    playhead: () => u.redraw(false, false),
    destroy() {
      window.removeEventListener("resize", resize);
      u.destroy();
    },
  };
}
