// The dispatch report page (派车核对): for a day and a unit's subtree,
// the drives no approval covers (无单出车) or covers only in part, and the
// approvals never driven (有单无车), and each approved trip against the
// track, from GET /api/v1/reports/dispatch.
// The drives' places are track data: the server audits the report, and
// inspectors give a reason.

import "../style.css";
import "../admin/admin.css";
import "../admin/messages.js";
import "../alerts/messages.js";
import "./messages.js";
import { get, logout } from "../api.js";
import { el } from "../dom.js";
import { t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { fillSelect } from "../pick.js";
import { addDays, today } from "../replay/period.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { errorText, table, unitItems } from "../admin/common.js";
import { formatSeconds } from "../alerts/duration.js";

const $ = (id) => document.getElementById(id);

let units = [];
let report = null;

async function run(ev) {
  ev.preventDefault();
  const date = $("f-date").value;
  if (!date) {
    toast(t("dp.f.needDate"));
    return;
  }
  const q = { date };
  if ($("f-unit").value) q.unit = $("f-unit").value;
  const reason = $("f-reason").value.trim();
  if (reason) q.reason = reason;
  $("f-go").disabled = true;
  try {
    report = await get(`/api/v1/reports/dispatch?${new URLSearchParams(q)}`);
  } catch (e) {
    toast(errorText(e));
    return;
  } finally {
    $("f-go").disabled = false;
  }
  render();
}

function render() {
  fillSelect($("f-unit"), t("dp.f.unit"), unitItems(units));
  if (!report) return;
  const n = (k) => report.rows.filter((r) => r.kind === k).length;
  $("summary").textContent = t("dp.summary", { date: report.date, vehicles: report.vehicles, drives: report.drives, approvals: report.approvals,
    noOrder: n("no_order"), overrun: n("overrun"), undriven: n("undriven") });
  const headers = ["dp.h.kind", "dp.h.plate", "dp.h.start", "dp.h.end", "dp.h.distance", "dp.h.speed", "dp.h.outside", "dp.h.approval", "dp.h.replay"];
  const rows = report.rows.map((r) => [
    t(`dp.kind.${r.kind}`), r.plate, formatTime(r.start), formatTime(r.end) + (r.ongoing ? t("dp.ongoing") : ""),
    r.kind === "undriven" ? "" : t("al.km", { km: ((r.distance_m || 0) / 1000).toFixed(1) }),
    r.kind === "undriven" ? "" : t("al.kmh", { v: Math.round(r.max_speed_kmh || 0) }),
    r.outside_s ? formatSeconds(r.outside_s) : "", r.approval_id ? `#${r.approval_id}` : "",
    r.kind === "undriven" ? "" : el("a", { href: `/ui/replay.html?${new URLSearchParams({ vehicle: r.vehicle_id, from: r.start, to: r.end })}` }, t("dp.replay")),
  ]);
  const tbl = table(headers, rows, (i) => ({ dataset: { kind: report.rows[i].kind, plate: report.rows[i].plate } }));
  tbl.id = "dispatch";
  $("list").replaceChildren(tbl);
  $("trips").replaceChildren(tripsTable(report.trips || []));
}

const yesNo = (b) => t(b ? "dp.yes" : "dp.no");

// tripsTable compares each approved trip starting that day with its
// vehicle's track: in its window, destination reached, how far and long,
// its stops, and what the car did besides.
function tripsTable(trips) {
  const headers = ["dp.t.order", "dp.h.plate", "dp.t.window", "dp.t.issued", "dp.t.driven", "dp.t.inWindow", "dp.t.reached",
    "dp.h.distance", "dp.t.driving", "dp.t.stops", "dp.t.besides", "dp.h.replay"];
  const rows = trips.map((x) => [
    (x.request_id ? t("dp.t.request", { id: x.request_id }) : t("dp.t.imported", { id: x.approval_id })) +
      (x.emergency ? ` · ${t("dp.t.emergency")}` : ""),
    x.plate, `${formatTime(x.from)} – ${formatTime(x.to)}`,
    formatTime(x.issued_at) + (x.issued_after ? ` · ${t("dp.t.issuedAfter")}` : ""),
    x.drives ? `${formatTime(x.start)} – ${formatTime(x.end)}` : t("dp.kind.undriven"),
    x.drives ? `${yesNo(x.started_in_window)} / ${yesNo(x.ended_in_window)}` : "",
    x.reached === null || x.reached === undefined ? t("dp.t.noPlace") : yesNo(x.reached),
    t("al.km", { km: (x.distance_m / 1000).toFixed(1) }), x.driving_s ? formatSeconds(x.driving_s) : "",
    x.stops.map((s) => `${formatTime(s.start).slice(11, 16)}–${formatTime(s.end).slice(11, 16)}`).join(", "),
    x.besides.map((d) => `${formatTime(d.start).slice(11, 16)}–${formatTime(d.end).slice(11, 16)}`).join(", "),
    el("a", { href: `/ui/replay.html?${new URLSearchParams({ vehicle: x.vehicle_id, from: x.start || x.from, to: x.end || x.to })}` }, t("dp.replay")),
  ]);
  const tbl = table(headers, rows, (i) => ({ dataset: { approval: String(trips[i].approval_id), request: String(trips[i].request_id || ""),
    issuedAfter: String(trips[i].issued_after), reached: String(trips[i].reached), emergency: String(trips[i].emergency) } }));
  tbl.id = "trips-table";
  return tbl;
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  units = (await get("/api/v1/units")).items;
  $("f-date").value = addDays(today(), -1);
  render();
  $("filters").addEventListener("submit", run);
  document.addEventListener("langchange", render);
  document.body.dataset.ready = "true";
}

main().catch((e) => toast(t("error", { msg: e.message })));
