// The alerts page (告警核查): the alerts of the user's jurisdiction,
// filtered by unit (its subtree), vehicle, rule, verification state and
// period, with the counts per state, a page at a time; the chosen alert
// with what it was judged against, its history and explanations, and the
// verification steps; the filtered list exported as XLSX. Everything from
// the server goes in as text (dom.js).

import "../style.css";
import "../admin/admin.css";
import "./alerts.css";
import "../admin/messages.js";
import { RULES } from "./messages.js";
import { formatSeconds } from "./duration.js";
import { ApiError, get, logout, post, postForm } from "../api.js";
import { el } from "../dom.js";
import { lang, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { fillSelect, loadPlates } from "../pick.js";
import { addDays } from "../replay/period.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { download } from "../download.js";
import { errorText, pager, table, unitItems } from "../admin/common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const STATES = ["open", "explanation_requested", "confirmed", "dismissed"];

let units = [];
let plates = new Map(); // plate → vehicle id
let query = {}; // the filters of the list shown
let offset = 0;
let page = null; // the last list answer
let chosen = null; // the alert shown on the right

function ruleName(a) {
  return lang() === "en" ? t(`rule.${a.rule.id}`) : a.rule.name || t(`rule.${a.rule.id}`);
}

// place is the fence's name, or the coordinates where the alert began.
function place(a) {
  return a.fence_name || `${a.start_place.lat.toFixed(5)}, ${a.start_place.lon.toFixed(5)}`;
}

function speed(a) {
  const max = t("al.kmh", { v: Math.round(a.max_speed_kmh) });
  if (!a.speed_limit_kmh) return max;
  return el("span", { className: a.max_speed_kmh > a.speed_limit_kmh ? "over" : "" }, `${max} / ${t("al.kmh", { v: a.speed_limit_kmh })}`);
}

function badge(state) {
  return el("span", { className: `state-badge ${state}`, dataset: { state } }, t(`al.v.${state}`));
}

// fillFilters (re)fills the selects in the page's language.
function fillFilters() {
  fillSelect($("f-unit"), t("al.f.unit"), unitItems(units));
  fillSelect($("f-rule"), t("al.f.rule"), RULES.map((r) => ({ value: r, label: t(`rule.${r}`) })));
  fillSelect($("f-verification"), t("al.f.verification"), STATES.map((s) => ({ value: s, label: t(`al.v.${s}`) })));
}

// readFilters takes the form's filters as query parameters.
function readFilters() {
  const q = {};
  if ($("f-unit").value) q.unit = $("f-unit").value;
  const plate = $("f-plate").value.trim();
  if (plate) {
    if (!plates.has(plate)) throw new Error(t("al.f.noPlate", { plate }));
    q.vehicle = plates.get(plate);
  }
  if ($("f-rule").value) q.rule = $("f-rule").value;
  if ($("f-verification").value) q.verification = $("f-verification").value;
  if ($("f-from").value) q.from = `${$("f-from").value}T00:00:00+08:00`;
  if ($("f-to").value) q.to = `${addDays($("f-to").value, 1)}T00:00:00+08:00`;
  return q;
}

const qs = (q) => new URLSearchParams(q).toString();

async function load() {
  try {
    page = await get(`/api/v1/alerts?${qs({ ...query, limit: PAGE, offset })}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  renderList();
}

function renderList() {
  if (!page) return;
  $("counts").replaceChildren(...STATES.map((s) => {
    const b = el("button", { type: "button", className: query.verification === s ? "on" : "", dataset: { state: s, n: page.counts[s] } },
      t("al.count", { state: t(`al.v.${s}`), n: page.counts[s] }));
    b.addEventListener("click", () => {
      $("f-verification").value = query.verification === s ? "" : s;
      search();
    });
    return b;
  }));
  const headers = ["al.h.plate", "al.h.rule", "al.h.place", "al.h.start", "al.h.end", "al.h.duration", "al.h.distance", "al.h.speed", "al.h.verification"];
  const rows = page.items.map((a) => [
    a.vehicle.plate, ruleName(a), place(a), formatTime(a.start), a.end ? formatTime(a.end) : t("al.ongoing"),
    a.duration_s ? formatSeconds(a.duration_s) : "—", t("al.km", { km: (a.distance_m / 1000).toFixed(1) }), speed(a), badge(a.verification),
  ]);
  const tbl = table(headers, rows, (i) => ({ dataset: { id: page.items[i].id, verification: page.items[i].verification },
    className: chosen && chosen.id === page.items[i].id ? "chosen" : "" }));
  tbl.id = "alerts";
  tbl.addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr) show(tr.dataset.id);
  });
  $("list").replaceChildren(tbl, pager(page.total, offset, PAGE, (o) => {
    offset = o;
    load();
  }));
}

function search(ev) {
  if (ev) ev.preventDefault();
  try {
    query = readFilters();
  } catch (e) {
    toast(e.message);
    return;
  }
  offset = 0;
  load();
}

async function show(id) {
  try {
    chosen = await get(`/api/v1/alerts/${encodeURIComponent(id)}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  renderDetail();
  renderList();
}

// replayHref opens the replay of the alert's period (to now while open).
function replayHref(a) {
  const to = a.end || new Date().toISOString();
  return `/ui/replay.html?${qs({ vehicle: a.vehicle.id, from: a.start, to })}`;
}

function humanSize(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`;
}

function renderDetail() {
  const a = chosen;
  const box = $("detail");
  if (!a) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const facts = [
    ["al.d.vehicle", a.vehicle.plate],
    ["al.d.rule", ruleName(a)],
    ["al.d.status", t(`al.status.${a.status}`)],
    ["al.d.place", place(a)],
    ["al.d.start", formatTime(a.start)],
    ["al.d.end", a.end ? formatTime(a.end) : t("al.ongoing")],
    ["al.d.duration", a.duration_s ? formatSeconds(a.duration_s) : "—"],
    ["al.d.distance", t("al.km", { km: (a.distance_m / 1000).toFixed(1) })],
    ["al.d.speed", t("al.kmh", { v: Math.round(a.max_speed_kmh) })],
  ];
  if (a.speed_limit_kmh) facts.push(["al.d.limit", t("al.kmh", { v: a.speed_limit_kmh })]);
  if (a.detail) facts.push(["al.d.detail", lang() === "en" ? a.detail : a.detail_zh || a.detail]);
  const ap = a.approval;
  facts.push(["al.d.approval", ap ? t("al.d.approvalText", { id: ap.id, from: formatTime(ap.start), to: formatTime(ap.end),
    purpose: ap.purpose || "", driver: ap.driver || "—", approver: ap.approver || "—" }) : a.approval_id ? `#${a.approval_id}` : t("al.d.noApproval")]);
  const cal = a.calendar;
  if (cal) {
    let s = t("al.d.calendarText", { unit: cal.default ? t("al.d.calendarDefault") : cal.unit || `#${cal.id}`, rev: cal.revision });
    if (cal.current_revision && cal.current_revision !== cal.revision) s += t("al.d.calendarNow", { rev: cal.current_revision });
    facts.push(["al.d.calendar", s]);
  } else if (a.calendar_version) {
    facts.push(["al.d.calendar", a.calendar_version]);
  }
  if (a.params_version) facts.push(["al.d.params", a.params_version]);
  facts.push(["al.d.verification", badge(a.verification)]);

  const dl = el("dl", { id: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));
  const replay = el("a", { id: "replay-link", href: replayHref(a), className: "replay-link" }, t("al.d.replay"));
  const history = a.history && a.history.length
    ? el("ol", { id: "history" }, ...a.history.map((h) => el("li", { dataset: { action: h.action } },
      t("al.d.step", { at: formatTime(h.at), user: h.user, action: t(`al.a.${h.action}`), from: t(`al.v.${h.from}`), to: t(`al.v.${h.to}`) }),
      h.reason ? el("div", { className: "note" }, h.reason) : "")))
    : el("p", { id: "history", className: "note" }, t("al.d.noHistory"));
  const explanations = el("ol", { id: "explanations" }, ...(a.explanations || []).map((x) => el("li", { dataset: { id: x.id } },
    `${formatTime(x.at)} ${x.user}`, x.text ? el("div", {}, x.text) : "",
    x.sha256 ? el("div", {},
      el("a", { href: `/api/v1/alerts/${encodeURIComponent(a.id)}/explanations/${x.id}/file`, download: x.file_name || "", className: "download" },
        t("al.d.download", { name: x.file_name || x.content_type, size: humanSize(x.size) })),
      el("div", { className: "digest", dataset: { sha256: x.sha256 } }, t("al.d.digest", { digest: x.sha256 }))) : "")));

  const parts = [el("h2", {}, t("al.d.title", { id: a.id })), dl, el("p", {}, replay),
    el("h3", {}, t("al.d.history")), history, el("h3", {}, t("al.d.explanations")), explanations];
  const steps = a.status === "retracted" ? [] : { open: ["request_explanation", "confirm", "dismiss"],
    explanation_requested: ["confirm", "dismiss"] }[a.verification] || [];
  if (a.verification === "explanation_requested" && a.status !== "retracted") {
    parts.push(el("h3", {}, t("al.d.explainTitle")),
      el("label", { className: "field" }, el("span", {}, t("al.d.explainText")), el("textarea", { id: "explain-text", rows: 3, maxLength: 2000 })),
      el("label", { className: "field" }, el("span", {}, t("al.d.explainFile")),
        el("input", { id: "explain-file", type: "file", accept: "application/pdf,image/png,image/jpeg,.pdf,.png,.jpg,.jpeg" })),
      el("div", { className: "buttons" }, actionButton("explain-go", "al.d.explainGo", explain)));
  }
  if (steps.length) {
    parts.push(el("h3", {}, t("al.d.reason")), el("textarea", { id: "step-reason", rows: 2, maxLength: 2000 }),
      el("div", { className: "buttons" }, ...steps.map((s) => actionButton(`act-${s}`, `al.a.${s}`, () => step(s)))));
  }
  box.replaceChildren(...parts);
}

function actionButton(id, key, fn) {
  const b = el("button", { type: "button", id, className: id === "act-confirm" ? "primary" : "" }, t(key));
  b.addEventListener("click", fn);
  return b;
}

// step takes a verification step with its reason: every step needs one.
async function step(action) {
  const reason = $("step-reason").value.trim();
  if (!reason) {
    $("step-reason").focus();
    toast(t("al.d.needReason"));
    return;
  }
  try {
    chosen = await post(`/api/v1/alerts/${encodeURIComponent(chosen.id)}/verification`, { action, reason });
    toast(t("al.d.done", { action: t(`al.a.${action}`) }));
  } catch (e) {
    toast(errorText(e));
    if (e instanceof ApiError && e.code === "verification_state") await show(chosen.id);
    return;
  }
  renderDetail();
  load();
}

async function explain() {
  const form = new FormData();
  form.append("text", $("explain-text").value.trim());
  const file = $("explain-file").files[0];
  if (file) form.append("file", file, file.name);
  $("explain-go").disabled = true;
  try {
    chosen = await postForm(`/api/v1/alerts/${encodeURIComponent(chosen.id)}/explanations`, form);
    toast(t("al.d.explained"));
  } catch (e) {
    toast(errorText(e));
    return;
  } finally {
    $("explain-go").disabled = false;
  }
  renderDetail();
  load();
}

// exportList downloads the filtered list as XLSX, with the reason.
async function exportList(ev) {
  ev.preventDefault();
  const reason = $("export-reason").value.trim();
  if (!reason) {
    $("export-reason").focus();
    toast(t("al.export.needReason"));
    return;
  }
  const status = $("export-status");
  $("export-go").disabled = true;
  try {
    const { name, size } = await download(`/api/v1/alerts/export?${qs({ ...query, reason })}`, "alerts.xlsx");
    status.textContent = t("al.export.done", { name });
    status.dataset.bytes = size;
  } catch (e) {
    toast(errorText(e));
  } finally {
    $("export-go").disabled = false;
  }
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  const [us, ps] = await Promise.all([get("/api/v1/units"), loadPlates($("f-plates"))]);
  units = us.items;
  plates = ps;
  fillFilters();
  $("filters").addEventListener("submit", search);
  $("export").addEventListener("submit", exportList);
  document.addEventListener("langchange", () => {
    fillFilters();
    renderList();
    renderDetail();
  });
  await load();
  document.body.dataset.ready = "true";
}

main().catch((e) => toast(t("error", { msg: e.message })));
