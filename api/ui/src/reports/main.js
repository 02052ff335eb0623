// The reports page: the statistics (台账) of a unit for a month, quarter
// or year, by unit or by vehicle (GET /api/v1/reports/stats), as a table
// and two bar charts drawn as SVG with DOM calls, with links to the XLSX
// and the printable page of the same query.

import "../style.css";
import "./reports.css";
import "./messages.js";
import { get, listAll, logout } from "../api.js";
import { el } from "../dom.js";
import { t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

let last = null;

// period is the ?period= of the form: 2026-11, 2026-Q4 or 2026.
function period() {
  const y = $("year").value;
  switch ($("kind").value) {
    case "month":
      return `${y}-${String($("part").value).padStart(2, "0")}`;
    case "quarter":
      return `${y}-Q${$("part").value}`;
  }
  return y;
}

function fillPart() {
  const kind = $("kind").value;
  const part = $("part");
  const now = new Date();
  const n = kind === "month" ? 12 : kind === "quarter" ? 4 : 0;
  part.hidden = n === 0;
  part.replaceChildren(
    ...Array.from({ length: n }, (_, i) => el("option", { value: String(i + 1) }, kind === "month" ? `${i + 1}` : `Q${i + 1}`)),
  );
  if (n) part.value = String(kind === "month" ? now.getMonth() + 1 : Math.floor(now.getMonth() / 3) + 1);
}

function query(format) {
  const q = new URLSearchParams({ period: period(), by: $("by").value });
  if ($("unit").value) q.set("unit", $("unit").value);
  if (format) q.set("format", format);
  return `/api/v1/reports/stats?${q}`;
}

async function show(ev) {
  ev?.preventDefault();
  $("go").disabled = true;
  try {
    last = await get(query());
    $("xlsx").href = query("xlsx");
    $("print").href = query("html");
    $("xlsx").hidden = $("print").hidden = false;
    render();
  } catch (e) {
    toast(t("error", { msg: e.message }));
  } finally {
    $("go").disabled = false;
  }
}

// columns are the table's: a heading key and the cell of a row.
function columns(by) {
  const fixed = (v) => (v == null ? "—" : v.toFixed(2));
  const sum = (m, keys) => keys.reduce((n, k) => n + (m?.[k] || 0), 0);
  return [
    ["unit", (r) => r.unit || t("reports.all")],
    ...(by === "vehicle" ? [["plate", (r) => r.plate]] : [["vehicles", (r) => r.vehicles], ["unused", (r) => r.unused_vehicles]]),
    ["trips", (r) => r.trips],
    ["km", (r) => fixed(r.distance_km)],
    ["odo", (r) => fixed(r.odometer_km)],
    ["hours", (r) => fixed(r.driving_h)],
    ["days", (r) => r.days_used],
    ["working", (r) => r.working_days],
    ["usedWorking", (r) => r.used_working_days],
    ["afterHours", (r) => r.after_hours_trips],
    ["holiday", (r) => r.holiday_trips],
    ["alerts", (r) => sum(r.alerts, Object.keys(r.alerts || {}))],
    ["openAlerts", (r) => sum(r.verification, ["open", "explanation_requested"])],
    ["confirmed", (r) => sum(r.verification, ["confirmed"])],
    ["dismissed", (r) => sum(r.verification, ["dismissed"])],
  ];
}

function render() {
  const rep = last;
  if (!rep) return;
  const cols = columns(rep.by);
  let note = t("reports.note", { from: rep.from, to: rep.to, at: formatTime(rep.generated) });
  if (rep.pending_days) note += t("reports.pending", { n: rep.pending_days });
  $("note").textContent = note;
  const row = (r, cls) =>
    el("tr", { className: cls || "", dataset: { id: String(r.vehicle_id || r.unit_id || "") } }, ...cols.map(([, f]) => el("td", {}, String(f(r)))));
  $("table").replaceChildren(
    el("thead", {}, el("tr", {}, ...cols.map(([k]) => el("th", {}, t(`reports.col.${k}`))))),
    el("tbody", {}, ...rep.rows.map((r) => row(r))),
    el("tfoot", {}, row({ ...rep.total, unit: t("reports.total"), plate: "" }, "total")),
  );
  $("unused-title").hidden = false;
  $("unused-title").textContent = t("reports.unusedTitle", { n: rep.unused.length });
  $("unused").textContent = rep.unused.map((v) => v.plate).join("、");
  renderTips(rep.tips);
  const label = (r) => (rep.by === "vehicle" ? r.plate : (r.unit || "").split("/").pop() || t("reports.all"));
  $("charts").replaceChildren(
    barChart(t("reports.chartTrips"), rep.rows.map((r) => [label(r), r.trips])),
    barChart(t("reports.chartKm"), rep.rows.map((r) => [label(r), r.distance_km])),
  );
}

// renderTips shows the tips (举报) received in the period, per unit and
// outcome.
function renderTips(tips) {
  if (!tips) return;
  const keys = ["received", "open", "overdue", "substantiated", "unsubstantiated", "closed"];
  const row = (r, unit, cls) => el("tr", { className: cls || "" }, el("td", {}, unit), ...keys.map((k) => el("td", {}, String(r[k]))));
  $("tips-title").hidden = false;
  $("tips-title").textContent = t("reports.tipsTitle", { n: tips.total.received });
  $("tips-table").replaceChildren(
    el("thead", {}, el("tr", {}, el("th", {}, t("reports.col.unit")), ...keys.map((k) => el("th", {}, t(`reports.tips.${k}`))))),
    el("tbody", {}, ...tips.rows.map((r) => row(r, r.unit))),
    el("tfoot", {}, row(tips.total, t("reports.total"), "total")),
  );
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text != null) e.textContent = String(text);
  return e;
}

// barChart is a horizontal bar chart of [label, value] pairs, at most 30
// (the table has them all).
function barChart(title, pairs) {
  pairs = pairs.slice(0, 30);
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  const rowH = 18, left = 110, width = 460, top = 24;
  const s = svg("svg", { viewBox: `0 0 ${left + width + 60} ${top + rowH * pairs.length + 4}`, class: "stats-chart", role: "img" });
  s.append(svg("text", { x: 0, y: 14, class: "title" }, title));
  pairs.forEach(([name, v], i) => {
    const y = top + i * rowH;
    const w = (v / max) * width;
    s.append(
      svg("text", { x: left - 6, y: y + 12, class: "label", "text-anchor": "end" }, name),
      svg("rect", { x: left, y: y + 2, width: Math.max(w, 0.5), height: rowH - 5, class: "bar" }),
      svg("text", { x: left + w + 4, y: y + 12, class: "value" }, Number.isInteger(v) ? v : v.toFixed(1)),
    );
  });
  return el("figure", {}, s);
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  const units = await listAll("/api/v1/units");
  $("unit").replaceChildren(el("option", { value: "" }, t("reports.all")), ...units.map((u) => el("option", { value: String(u.id) }, u.path)));
  $("year").value = String(new Date().getFullYear());
  $("kind").value = "quarter";
  fillPart();
  $("kind").addEventListener("change", fillPart);
  $("query").addEventListener("submit", show);
  document.addEventListener("langchange", render);
}

main().catch((e) => toast(t("error", { msg: e.message })));
