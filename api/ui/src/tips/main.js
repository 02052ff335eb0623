// The tips page (举报核查): the tips of the user's jurisdiction, overdue
// cases first and marked, with the counts per state; an inspector
// registers a tip; the chosen tip shows what the tracks say (the visit,
// the track around it, the alerts, a link to the replay), its steps, the
// next step the user may take, and the export of the case. The caller's
// number comes masked; an inspector may ask for it in full, with a
// reason (the server audits it). Everything from the server goes in as
// text (dom.js).

import "../style.css";
import "../admin/admin.css";
import "../alerts/alerts.css";
import "./tips.css";
import "../admin/messages.js";
import "../alerts/messages.js";
import "./messages.js";
import { ApiError, get, listAll, logout, post } from "../api.js";
import { el } from "../dom.js";
import { lang, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { fillSelect, loadPlates } from "../pick.js";
import { formatDuration, formatTime, toRFC3339 } from "../time.js";
import { toast } from "../toast.js";
import { download } from "../download.js";
import { errorText, pager, table } from "../admin/common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const STATES = ["registered", "passed", "replied", "verified", "fed_back", "closed"];
const CHANNELS = ["hotline_12345", "phone", "letter", "web"];
// NEXT is the step each state leads to, and who may take it.
const NEXT = {
  registered: { action: "pass", roles: ["inspector"] },
  passed: { action: "reply", roles: ["inspector", "supervisor"] },
  replied: { action: "verify", roles: ["inspector"] },
  verified: { action: "feedback", roles: ["inspector"] },
  fed_back: { action: "close", roles: ["inspector"] },
};

let user = null;
let query = {};
let offset = 0;
let page = null;
let chosen = null; // the tip shown
let answer = null; // its answer
let fences = [];
// keys are the idempotency keys of the requests not yet answered: a
// request retried (a click after a lost answer) sends the same key.
const keys = {};

function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function keyFor(what) {
  if (!keys[what]) keys[what] = newKey();
  return keys[what];
}

const qs = (q) => new URLSearchParams(q).toString();

// local turns a datetime-local value into RFC 3339 in Beijing time.
function local(v) {
  if (!v) return "";
  return `${v.length === 16 ? `${v}:00` : v}+08:00`;
}

function badge(tip) {
  const b = el("span", { className: `state-badge ${tip.state}`, dataset: { state: tip.state } }, t(`tip.s.${tip.state}`));
  if (!tip.overdue) return b;
  return el("span", {}, b, el("span", { className: "overdue-badge", dataset: { overdue: "true" } }, t("tip.s.overdue")));
}

function plateOf(tip) {
  return tip.plate || (tip.plate_text ? tip.plate_text : t("tip.unsure"));
}

async function load() {
  try {
    page = await get(`/api/v1/tips?${qs({ ...query, limit: PAGE, offset })}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  renderList();
}

function renderList() {
  if (!page) return;
  const counts = [...STATES, "overdue"].map((s) => {
    const b = el("button", { type: "button", className: query.state === s || (s === "overdue" && query.overdue) ? "on" : "",
      dataset: { state: s, n: page.counts[s] } }, t("tip.count", { state: t(`tip.s.${s}`), n: page.counts[s] }));
    b.addEventListener("click", () => {
      if (s === "overdue") $("f-overdue").checked = !query.overdue;
      else $("f-state").value = query.state === s ? "" : s;
      search();
    });
    return b;
  });
  $("counts").replaceChildren(...counts);
  const headers = ["tip.h.id", "tip.h.received", "tip.h.channel", "tip.h.plate", "tip.h.unit", "tip.h.alleged", "tip.h.state", "tip.h.deadline"];
  const rows = page.items.map((x) => [`#${x.id}`, formatTime(x.received_at), t(`tip.ch.${x.channel}`), plateOf(x), x.unit,
    `${formatTime(x.from)} – ${formatTime(x.to)}`, badge(x), x.deadline ? formatTime(x.deadline) : "—"]);
  const tbl = table(headers, rows, (i) => {
    const x = page.items[i];
    return { dataset: { id: x.id, state: x.state, overdue: String(x.overdue) },
      className: [x.overdue ? "overdue" : "", chosen && chosen.id === x.id ? "chosen" : ""].join(" ").trim() };
  });
  tbl.id = "tips";
  tbl.addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr) show(Number(tr.dataset.id));
  });
  $("list").replaceChildren(tbl, pager(page.total, offset, PAGE, (o) => {
    offset = o;
    load();
  }));
}

function search(ev) {
  if (ev) ev.preventDefault();
  query = {};
  if ($("f-state").value) query.state = $("f-state").value;
  if ($("f-overdue").checked) query.overdue = "true";
  offset = 0;
  load();
}

async function show(id) {
  try {
    chosen = await get(`/api/v1/tips/${id}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  answer = null;
  renderDetail();
  renderList();
  try {
    answer = await get(`/api/v1/tips/${id}/answer`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  if (chosen && chosen.id === id) renderDetail();
}

function placeText(x) {
  const parts = [];
  if (x.place_text) parts.push(x.place_text);
  if (x.fence_id) {
    const f = fences.find((g) => g.id === x.fence_id);
    parts.push(f ? f.name : t("tip.d.fence", { id: x.fence_id }));
  }
  if (x.area) parts.push(t("tip.d.drawn"));
  return parts.join("；");
}

function renderAnswer() {
  if (!answer) return el("div", { id: "answer", className: "tip-answer note" }, "…");
  const parts = [];
  if (answer.searched === "address") parts.push(el("p", { className: "note" }, t("tip.d.addressOnly")));
  else parts.push(el("p", { className: `verdict ${answer.there ? "there" : "absent"}`, id: "verdict", dataset: { there: String(answer.there) } },
    t(answer.there ? "tip.d.there" : "tip.d.absent")));
  for (const v of answer.vehicles) {
    const tr = v.track;
    parts.push(el("h4", { dataset: { plate: v.plate } }, `${v.plate} · ${v.unit}`),
      el("ul", { className: "visits" }, ...v.visits.map((vi) => el("li", { className: "visit" },
        t("tip.d.visit", { arrival: formatTime(vi.arrival), departure: formatTime(vi.departure), dwell: formatDuration(vi.dwell_s) })))),
      el("p", { className: "track", dataset: { points: tr.points } }, tr.points
        ? t("tip.d.track", { points: tr.points, km: tr.distance_km, kmh: Math.round(tr.max_speed_kmh), first: formatTime(tr.first), last: formatTime(tr.last) })
        : t("tip.d.noTrack")),
      el("div", {}, t("tip.d.alerts")),
      v.alerts.length
        ? el("ul", { className: "alerts" }, ...v.alerts.map((a) => el("li", { className: "alert", dataset: { id: a.id, rule: a.rule.id } },
          `${lang() === "en" ? t(`rule.${a.rule.id}`) : a.rule.name} ${formatTime(a.start)} – ${a.end ? formatTime(a.end) : ""}`)))
        : el("p", { className: "note" }, t("tip.d.noAlerts")),
      el("p", {}, el("a", { className: "replay-link", href: v.replay_url, dataset: { vehicle: v.vehicle_id } }, t("tip.d.replay", { plate: v.plate }))));
  }
  return el("div", { id: "answer", className: "tip-answer" }, ...parts);
}

function renderDetail() {
  const x = chosen;
  const box = $("detail");
  if (!x) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const caller = el("span", { id: "caller" }, x.caller_number || "—");
  const facts = [
    ["tip.d.received", formatTime(x.received_at)],
    ["tip.d.channel", t(`tip.ch.${x.channel}`)],
    ["tip.d.caller", caller],
    ["tip.d.content", x.content],
    ["tip.d.plate", plateOf(x)],
    ["tip.d.unit", x.unit],
    ["tip.d.alleged", `${formatTime(x.from)} – ${formatTime(x.to)}`],
    ["tip.d.place", placeText(x)],
    ["tip.d.state", badge(x)],
  ];
  if (x.deadline) facts.push(["tip.d.deadline", formatTime(x.deadline)]);
  if (x.outcome) facts.push(["tip.d.outcome", t(`tip.o.${x.outcome}`)]);
  const parts = [el("h2", {}, t("tip.d.title", { id: x.id })),
    el("dl", { id: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]))];
  if (user.role === "inspector" && x.caller_number) {
    parts.push(el("div", { className: "buttons" },
      el("input", { id: "caller-reason", maxLength: 500, placeholder: t("tip.d.callerReason") }),
      actionButton("caller-show", "tip.d.showCaller", showCaller)));
  }
  parts.push(el("h3", {}, t("tip.d.answer")), renderAnswer());
  parts.push(el("h3", {}, t("tip.d.history")), el("ol", { id: "history" }, ...(x.events || []).map((e) => el("li", { dataset: { action: e.action } },
    t("tip.d.step", { at: formatTime(e.at), user: e.user, action: t(`tip.a.${e.action}`), from: e.from ? t(`tip.s.${e.from}`) : "—", to: t(`tip.s.${e.to}`) }),
    e.reason ? el("div", { className: "note" }, e.reason) : ""))));
  const next = NEXT[x.state];
  if (next && next.roles.includes(user.role)) parts.push(...stepForm(next.action));
  if (x.vehicle_id) {
    parts.push(el("h3", {}, t("tip.d.export")), el("div", { className: "buttons" },
      el("input", { id: "export-reason", maxLength: 500, placeholder: t("tip.d.exportReason") }),
      actionButton("export-go", "tip.d.export", exportCase)), el("span", { id: "export-status", className: "note" }));
  }
  box.replaceChildren(...parts);
}

// stepForm is the form of the next step: its text, and what the step
// needs besides (a deadline; an outcome with the alerts and exports).
function stepForm(action) {
  const parts = [el("h3", {}, `${t("tip.d.next")}：${t(`tip.a.${action}`)}`)];
  if (action === "pass") {
    parts.push(el("label", { className: "field" }, el("span", {}, t("tip.d.deadlineIn")), el("input", { id: "step-deadline", type: "datetime-local" })));
  }
  if (action === "verify") {
    const sel = el("select", { id: "step-outcome" }, ...["substantiated", "unsubstantiated"].map((o) => el("option", { value: o }, t(`tip.o.${o}`))));
    parts.push(el("label", { className: "field" }, el("span", {}, t("tip.d.outcomeIn")), sel));
    const als = answer ? answer.vehicles.flatMap((v) => v.alerts) : [];
    if (als.length) {
      parts.push(el("div", {}, t("tip.d.alertsIn")), el("div", { id: "step-alerts" }, ...als.map((a) => el("label", { className: "check" },
        el("input", { type: "checkbox", value: a.id, checked: true }), `${a.rule.name} ${formatTime(a.start)}`))));
    }
    parts.push(el("label", { className: "field" }, el("span", {}, t("tip.d.exportsIn")), el("input", { id: "step-exports", maxLength: 2000 })));
  }
  parts.push(el("label", { className: "field" }, el("span", {}, t("tip.d.reason")), el("textarea", { id: "step-reason", rows: 3, maxLength: 4000 })),
    el("div", { className: "buttons" }, actionButton(`act-${action}`, `tip.a.${action}`, () => step(action))));
  return parts;
}

function actionButton(id, key, fn) {
  const b = el("button", { type: "button", id, className: "primary" }, t(key));
  b.addEventListener("click", fn);
  return b;
}

async function step(action) {
  const body = { key: keyFor(`step-${chosen.id}-${action}`), action, reason: $("step-reason").value.trim() };
  if (action === "pass") body.deadline = local($("step-deadline").value);
  if (action === "verify") {
    body.outcome = $("step-outcome").value;
    body.alert_ids = [...document.querySelectorAll("#step-alerts input:checked")].map((i) => i.value);
    body.exports = $("step-exports").value.split(/[,，]/).map((s) => s.trim()).filter(Boolean);
  }
  if (action === "pass" && !body.deadline) delete body.deadline; // the server names what is missing
  try {
    chosen = await post(`/api/v1/tips/${chosen.id}/steps`, body);
    delete keys[`step-${chosen.id}-${action}`];
    toast(t("tip.d.done", { action: t(`tip.a.${action}`) }));
  } catch (e) {
    toast(errorText(e));
    if (e instanceof ApiError && (e.code === "tip_state" || e.code === "bad_request")) delete keys[`step-${chosen.id}-${action}`];
    return;
  }
  renderDetail();
  load();
}

async function showCaller() {
  const reason = $("caller-reason").value.trim();
  if (!reason) {
    $("caller-reason").focus();
    toast(t("tip.d.needCallerReason"));
    return;
  }
  try {
    const r = await get(`/api/v1/tips/${chosen.id}/caller?${qs({ reason })}`);
    $("caller").textContent = r.caller_number;
  } catch (e) {
    toast(errorText(e));
  }
}

async function exportCase() {
  const reason = $("export-reason").value.trim();
  if (!reason) {
    $("export-reason").focus();
    toast(t("tip.d.needExportReason"));
    return;
  }
  $("export-go").disabled = true;
  try {
    const { name, size } = await download(`/api/v1/tips/${chosen.id}/export?${qs({ reason })}`, "tip.csv");
    $("export-status").textContent = t("tip.d.exported", { name });
    $("export-status").dataset.bytes = size;
  } catch (e) {
    toast(errorText(e));
  } finally {
    $("export-go").disabled = false;
  }
}

function fillForm() {
  fillSelect($("f-state"), t("tip.f.state"), STATES.map((s) => ({ value: s, label: t(`tip.s.${s}`) })));
  const ch = $("r-channel");
  const keep = ch.value;
  ch.replaceChildren(...CHANNELS.map((c) => el("option", { value: c }, t(`tip.ch.${c}`))));
  if (keep) ch.value = keep;
  fillSelect($("r-fence"), t("tip.r.noFence"), fences.map((f) => ({ value: f.id, label: f.name })));
}

function openForm() {
  $("register").hidden = false;
  if (!$("r-received").value) $("r-received").value = toRFC3339(new Date()).slice(0, 16);
  $("r-content").focus();
}

async function register(ev) {
  ev.preventDefault();
  const body = {
    key: keyFor("register"), received_at: local($("r-received").value), channel: $("r-channel").value,
    caller_number: $("r-caller").value.trim(), content: $("r-content").value, plate: $("r-plate").value.trim(),
    plate_unsure: $("r-unsure").checked, from: local($("r-from").value), to: local($("r-to").value), place_text: $("r-place").value.trim(),
  };
  for (const k of ["received_at", "from", "to"]) if (!body[k]) delete body[k]; // named by the server
  if ($("r-fence").value) body.fence_id = Number($("r-fence").value);
  const pt = $("r-point").value.trim();
  if (pt) {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,，]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(pt);
    if (!m) {
      toast(t("tip.r.badPoint"));
      return;
    }
    body.area = { type: "Point", coordinates: [Number(m[2]), Number(m[1])] };
    body.radius_m = Number($("r-radius").value) || 300;
  }
  let tip;
  try {
    tip = await post("/api/v1/tips", body);
  } catch (e) {
    toast(errorText(e));
    if (e instanceof ApiError && e.status < 500) delete keys.register;
    return;
  }
  delete keys.register;
  $("register").reset();
  $("register").hidden = true;
  toast(t("tip.r.done", { id: tip.id }));
  await load();
  await show(tip.id);
}

async function main() {
  user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  const [, fs] = await Promise.all([loadPlates($("r-plates")), listAll("/api/v1/geofences")]);
  fences = fs;
  fillForm();
  if (user.role === "inspector") {
    $("new-tip").hidden = false;
    $("new-tip").addEventListener("click", openForm);
  }
  $("filters").addEventListener("submit", search);
  $("register").addEventListener("submit", register);
  $("r-cancel").addEventListener("click", () => {
    $("register").hidden = true;
  });
  document.addEventListener("langchange", () => {
    fillForm();
    renderList();
    renderDetail();
  });
  const id = Number(new URLSearchParams(location.search).get("id"));
  await load();
  if (id) await show(id);
  document.body.dataset.ready = "true";
}

main().catch((e) => toast(t("error", { msg: e.message })));
