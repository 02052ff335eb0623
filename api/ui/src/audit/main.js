// The audit page (审计日志), for administrators and inspectors: who
// viewed or exported which vehicle's history, when and why, and every
// other audited change, filtered by user, vehicle and period, a page at a
// time (GET /api/v1/audit). Everything from the server goes in as text.

import "../style.css";
import "../admin/admin.css";
import "../admin/messages.js";
import "../alerts/messages.js";
import "./messages.js";
import { get, logout } from "../api.js";
import { has, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { loadPlates } from "../pick.js";
import { addDays } from "../replay/period.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { errorText, pager, table } from "../admin/common.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;

let plates = new Map(); // plate → id
let byID = new Map(); // id → plate
let query = {};
let offset = 0;
let page = null;

function readFilters() {
  const q = {};
  const user = $("f-user").value.trim();
  if (user) q.user = user;
  const plate = $("f-plate").value.trim();
  if (plate) {
    if (!plates.has(plate)) throw new Error(t("au.f.noPlate", { plate }));
    q.vehicle = plates.get(plate);
  }
  if ($("f-from").value) q.from = `${$("f-from").value}T00:00:00+08:00`;
  if ($("f-to").value) q.to = `${addDays($("f-to").value, 1)}T00:00:00+08:00`;
  return q;
}

// actionText names what was done, with the step of an alert's verification.
function actionText(e) {
  const key = `au.a.${e.action}`;
  let s = has(key) ? t(key) : e.action;
  const step = e.detail && e.detail.action;
  if (e.action === "alert.verification" && step) s += `：${t(`al.a.${step}`)}`;
  return s;
}

async function load() {
  try {
    page = await get(`/api/v1/audit?${new URLSearchParams({ ...query, limit: PAGE, offset })}`);
  } catch (e) {
    toast(errorText(e));
    return;
  }
  render();
}

function render() {
  if (!page) return;
  const headers = ["au.h.at", "au.h.user", "au.h.action", "au.h.vehicle", "au.h.period", "au.h.reason", "au.h.addr"];
  const rows = page.items.map((e) => [
    formatTime(e.at), e.user, actionText(e), e.vehicle_id ? byID.get(e.vehicle_id) || `#${e.vehicle_id}` : "",
    e.from || e.to ? `${formatTime(e.from)} – ${formatTime(e.to)}` : "", e.reason || "", e.remote_addr || "",
  ]);
  const tbl = table(headers, rows, (i) => ({ dataset: { id: page.items[i].id, action: page.items[i].action } }));
  tbl.id = "audit";
  $("list").replaceChildren(tbl, pager(page.total, offset, PAGE, (o) => {
    offset = o;
    load();
  }));
}

function search(ev) {
  ev.preventDefault();
  try {
    query = readFilters();
  } catch (e) {
    toast(e.message);
    return;
  }
  offset = 0;
  load();
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  plates = await loadPlates($("f-plates"));
  byID = new Map([...plates].map(([p, id]) => [id, p]));
  $("filters").addEventListener("submit", search);
  document.addEventListener("langchange", render);
  await load();
  document.body.dataset.ready = "true";
}

main().catch((e) => toast(t("error", { msg: e.message })));
