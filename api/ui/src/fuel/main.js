// The fuel-card page (加油卡核对): import a card statement and the station
// list, match a month's fills against the tracks, and work the leads
// (线索) through the alerts' verification steps, each with its evidence:
// the figures and the track around the fill. The monthly reconciliation
// downloads as XLSX, the leads as a CSV `fleetd verify` checks. Everything
// from the server goes in as text (dom.js).

import "../style.css";
import "../admin/admin.css";
import "../alerts/alerts.css";
import "../admin/messages.js";
import "../alerts/messages.js";
import "./messages.js";
import { ApiError, get, logout, post } from "../api.js";
import { el } from "../dom.js";
import { t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { fillSelect } from "../pick.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { errorText, pager, table, unitItems } from "../admin/common.js";

const $ = (id) => document.getElementById(id);
const KINDS = ["away", "no_track", "unknown_station", "over_tank", "over_distance", "holiday", "after_hours"];
const STATES = ["open", "explanation_requested", "confirmed", "dismissed"];
const LIMIT = 50;

let units = [];
let query = null;
let page = null;
let chosen = null;

function thisMonth() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

function filters() {
  const q = { month: $("f-month").value };
  if ($("f-unit").value) q.unit = $("f-unit").value;
  if ($("f-kind").value) q.kind = $("f-kind").value;
  if ($("f-verification").value) q.verification = $("f-verification").value;
  return q;
}

// importFile sends a chosen file as it is (the server reads CSV in UTF-8
// or GBK, and XLSX) and lists the bad lines when it is refused.
async function importFile(input, path, done) {
  const file = $(input).files[0];
  if (!file) {
    toast(t("fu.i.needFile"));
    return;
  }
  const type = file.name.toLowerCase().endsWith(".xlsx") ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
  try {
    const r = await post(path, file, type);
    $("import-result").replaceChildren(el("li", { dataset: { ok: "true" } }, done(r)));
  } catch (e) {
    const lines = e instanceof ApiError ? e.lines : [];
    $("import-result").replaceChildren(el("li", {}, errorText(e)),
      ...lines.map((l) => el("li", { className: "bad-line", dataset: { line: l.line } }, l.line ? `${l.line}: ${l.message}` : l.message)));
  }
}

async function load(offset = 0) {
  if (!query || !query.month) {
    toast(t("fu.f.needMonth"));
    return;
  }
  try {
    page = await get(`/api/v1/fuel/leads?${new URLSearchParams({ ...query, limit: LIMIT, offset })}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  page.offset = offset;
  render();
}

function render() {
  fillSelect($("f-unit"), t("fu.f.unit"), unitItems(units));
  fillSelect($("f-kind"), t("fu.f.kind"), KINDS.map((k) => ({ value: k, label: t(`fu.kind.${k}`) })));
  fillSelect($("f-verification"), t("fu.f.verification"), STATES.map((s) => ({ value: s, label: t(`al.v.${s}`) })));
  const month = $("f-month").value;
  $("report-xlsx").href = `/api/v1/fuel/report?${new URLSearchParams({ ...(query || {}), month, format: "xlsx" })}`;
  if (!page) return;
  $("summary").textContent = t("fu.summary", { month: query.month, total: page.total });
  $("counts").replaceChildren(...STATES.map((s) => el("span", { className: "badge", dataset: { state: s, n: page.verification_counts[s] || 0 } },
    `${t(`al.v.${s}`)} ${page.verification_counts[s] || 0}`)));
  const headers = ["fu.h.kind", "fu.h.plate", "fu.h.card", "fu.h.at", "fu.h.station", "fu.h.litres", "fu.h.amount", "fu.h.verification"];
  const rows = page.items.map((l) => [t(`fu.kind.${l.kind}`), l.plate, l.card, formatTime(l.at), l.station, l.litres.toFixed(2),
    l.amount.toFixed(2), t(`al.v.${l.verification}`)]);
  const tbl = table(headers, rows, (i) => ({ dataset: { id: page.items[i].id, kind: page.items[i].kind, plate: page.items[i].plate,
    verification: page.items[i].verification }, className: "clickable" }));
  tbl.id = "leads";
  tbl.addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr) show(tr.dataset.id);
  });
  $("list").replaceChildren(tbl, pager(page.total, page.offset, LIMIT, load));
}

async function show(id) {
  try {
    chosen = await get(`/api/v1/fuel/leads/${encodeURIComponent(id)}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  renderDetail();
}

// evidence says in words what the lead stands on.
function evidence(l) {
  const f = l.figures || {};
  const n = (v) => (v === undefined || v === null ? "—" : Number(v).toFixed(1));
  switch (l.kind) {
    case "away":
      return t("fu.d.nearest", { m: Math.round(f.nearest_m), at: formatTime(f.nearest_at), limit: f.limit_m });
    case "over_tank":
      return t("fu.d.tank", { tank: f.tank_l, litres: l.litres.toFixed(2) });
    case "over_distance":
      return t("fu.d.distance", { prev: formatTime(f.previous_at), km: n(f.km_since), norm: f.norm_l_100km, expected: n(f.expected_l),
        allowed: n(f.allowed_l), litres: l.litres.toFixed(2) });
    case "holiday":
      return t("fu.d.day", { kind: t(`fu.day.${f.day_kind}`), name: f.day_name || "" });
    case "after_hours":
      return f.work_start ? t("fu.d.hours", { start: formatTime(f.work_start), end: formatTime(f.work_end) }) : "";
  }
  return t(`fu.kind.${l.kind}`);
}

function renderDetail() {
  const l = chosen;
  const box = $("detail");
  box.hidden = false;
  box.dataset.id = l.id;
  box.dataset.verification = l.verification;
  const facts = [
    ["fu.h.kind", t(`fu.kind.${l.kind}`)], ["fu.h.plate", `${l.plate} · ${l.unit}`],
    ["fu.d.fill", t("fu.d.fillText", { at: formatTime(l.at), station: l.station, product: l.product, litres: l.litres.toFixed(2),
      amount: l.amount.toFixed(2), card: l.card })],
    ["fu.d.figures", evidence(l)], ["fu.h.verification", t(`al.v.${l.verification}`)],
  ];
  const dl = el("dl", { id: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));
  const pts = l.excerpt || [];
  const excerpt = pts.length
    ? table(["fu.h.time", "fu.h.lat", "fu.h.lon", "fu.h.speed"], pts.map((p) => [formatTime(p.t), p.lat.toFixed(5), p.lon.toFixed(5),
      t("al.kmh", { v: Math.round(p.speed_kmh) })]))
    : el("p", { className: "note" }, t("fu.d.noTrack"));
  excerpt.id = "excerpt";
  const history = l.history && l.history.length
    ? el("ol", { id: "history" }, ...l.history.map((h) => el("li", { dataset: { action: h.action } },
      t("al.d.step", { at: formatTime(h.at), user: h.user, action: t(`al.a.${h.action}`), from: t(`al.v.${h.from}`), to: t(`al.v.${h.to}`) }),
      h.reason ? el("div", { className: "note" }, h.reason) : "")))
    : el("p", { id: "history", className: "note" }, t("fu.d.noHistory"));
  const at = new Date(l.at).getTime();
  const replay = el("a", { id: "replay-link", className: "replay-link", href: `/ui/replay.html?${new URLSearchParams({ vehicle: l.vehicle_id,
    from: new Date(at - 3600e3).toISOString(), to: new Date(at + 3600e3).toISOString() })}` }, t("fu.d.replay"));
  const parts = [el("h2", {}, t("fu.d.title", { id: l.id })), dl, el("p", {}, replay), el("h3", {}, t("fu.d.excerpt")), excerpt,
    el("h3", {}, t("fu.d.history")), history];
  const steps = { open: ["request_explanation", "confirm", "dismiss"], explanation_requested: ["confirm", "dismiss"] }[l.verification] || [];
  if (steps.length) {
    parts.push(el("h3", {}, t("fu.d.reason")), el("textarea", { id: "step-reason", rows: 2, maxLength: 2000 }),
      el("div", { className: "buttons" }, ...steps.map((s) => {
        const b = el("button", { type: "button", id: `act-${s}`, className: s === "confirm" ? "primary" : "" }, t(`al.a.${s}`));
        b.addEventListener("click", () => step(s));
        return b;
      })));
  }
  box.replaceChildren(...parts);
}

async function step(action) {
  const reason = $("step-reason").value.trim();
  if (!reason && action !== "request_explanation") {
    $("step-reason").focus();
    toast(t("fu.d.needReason"));
    return;
  }
  try {
    chosen = await post(`/api/v1/fuel/leads/${chosen.id}/verification`, { action, reason });
    toast(t("al.d.done", { action: t(`al.a.${action}`) }));
  } catch (e) {
    toast(errorText(e));
    if (e instanceof ApiError && e.code === "verification_state") await show(chosen.id);
    return;
  }
  renderDetail();
  load(page ? page.offset : 0);
}

async function match() {
  const month = $("f-month").value;
  if (!month) {
    toast(t("fu.f.needMonth"));
    return;
  }
  $("match-go").disabled = true;
  try {
    const r = await post("/api/v1/fuel/match", { month });
    toast(t("fu.matched", r));
    $("summary").dataset.matched = "true";
  } catch (e) {
    toast(errorText(e));
    return;
  } finally {
    $("match-go").disabled = false;
  }
  query = filters();
  load();
}

// exportLeads downloads the leads as the verifiable CSV, with the reason.
function exportLeads(ev) {
  ev.preventDefault();
  const q = { ...filters() };
  const reason = $("export-reason").value.trim();
  if (reason) q.reason = reason;
  const a = el("a", { href: `/api/v1/fuel/leads/export?${new URLSearchParams(q)}`, download: "" });
  document.body.append(a);
  a.click();
  a.remove();
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  units = (await get("/api/v1/units")).items;
  $("f-month").value = new URLSearchParams(location.search).get("month") || thisMonth();
  render();
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    query = filters();
    load();
  });
  $("match-go").addEventListener("click", match);
  $("statement-go").addEventListener("click", () => importFile("statement-file", "/api/v1/fuel/transactions/import",
    (r) => t("fu.i.fills", r)));
  $("stations-go").addEventListener("click", () => importFile("stations-file", "/api/v1/fuel/stations/import",
    (r) => t("fu.i.stationsDone", r)));
  $("export").addEventListener("submit", exportLeads);
  document.addEventListener("langchange", () => {
    render();
    if (chosen) renderDetail();
  });
  document.body.dataset.ready = "true";
}

main().catch((e) => toast(t("error", { msg: e.message })));
