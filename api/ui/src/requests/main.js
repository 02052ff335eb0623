// The car requests page (用车申请 → 审批 → 派车): everyone who may request
// a car files one here (staff see only their own); supervisors and
// administrators approve or reject those of their jurisdiction, dispatch a
// vehicle and driver (or a rental car), record emergency use afterwards
// (补录) and keep the units' drivers. Inspectors read. The server checks
// every step; the page only offers what the role may do.

import "../style.css";
import "../admin/admin.css";
import "../admin/messages.js";
import "./messages.js";
import "./requests.css";
import { createDestinationMap } from "./destmap.js";
import { get, listAll, logout, post } from "../api.js";
import { el } from "../dom.js";
import { t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { fillSelect } from "../pick.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { errorText, table, unitItems } from "../admin/common.js";

const $ = (id) => document.getElementById(id);
const STATUSES = ["pending", "approved", "rejected", "dispatched"];

let user = null;
let manager = false;
let requests = [];
let landmarks = [];
let vehicles = [];
let drivers = [];
let units = [];
let destMap = null;

// formKey is the key of the request being filled in: sending the form
// again (a double click, a retry after a network error) finds the request
// made the first time. A new key is made once a request is stored.
let formKey = newKey();

function newKey() {
  return `web-${crypto.randomUUID()}`;
}

// rfc3339 reads a datetime-local value as Beijing time.
function rfc3339(v) {
  return v ? `${v}:00+08:00` : "";
}

function fields() {
  const body = {
    client_ref: formKey,
    purpose: $("a-purpose").value.trim(),
    passengers: Number($("a-passengers").value),
    destination: $("a-destination").value.trim(),
    from: rfc3339($("a-from").value),
    to: rfc3339($("a-to").value),
  };
  if ($("a-landmark").value) body.dest_landmark_id = Number($("a-landmark").value);
  const area = destMap && destMap.geometry();
  if (area) body.dest_area = area;
  return body;
}

async function submit(ev) {
  ev.preventDefault();
  const body = fields();
  if (!body.from || !body.to) {
    toast(t("rq.needTimes"));
    return;
  }
  $("a-submit").disabled = true;
  try {
    await post("/api/v1/trip-requests", body);
    formKey = newKey();
    $("apply").reset();
    destMap?.clear();
    toast(t("rq.filed"));
    await reload();
  } catch (e) {
    toast(errorText(e));
  } finally {
    $("a-submit").disabled = false;
  }
}

// emergency records the form as emergency use afterwards, with the car
// chosen in the emergency row's selects.
async function emergency() {
  const body = fields();
  body.reason = $("a-reason").value.trim();
  const v = $("e-vehicle").value;
  if (v) {
    body.vehicle_id = Number(v);
    body.driver_id = Number($("e-driver").value) || 0;
  } else {
    body.rental_plate = $("e-rental-plate").value.trim();
    body.rental_company = $("e-rental-company").value.trim();
  }
  try {
    await post("/api/v1/trip-requests/emergency", body);
    formKey = newKey();
    $("apply").reset();
    destMap?.clear();
    toast(t("rq.recorded"));
    await reload();
  } catch (e) {
    toast(errorText(e));
  }
}

// act posts a step of request r and shows the list again.
async function act(r, step, body) {
  try {
    await post(`/api/v1/trip-requests/${r.id}/${step}`, body);
    toast(t(`rq.done.${step}`));
    await reload();
  } catch (e) {
    toast(errorText(e));
  }
}

function vehicleSelect(cls) {
  return el("select", { className: cls }, el("option", { value: "" }, t("rq.rental")),
    ...vehicles.map((v) => el("option", { value: String(v.id) }, v.plate)));
}

function driverSelect(cls) {
  return el("select", { className: cls }, el("option", { value: "" }, t("rq.driver")),
    ...drivers.map((d) => el("option", { value: String(d.id) }, `${d.name} · ${d.unit}`)));
}

// actions are what the user may do with request r.
function actions(r) {
  if (!manager) return "";
  if (r.status === "pending" && r.requester !== user.name) {
    const reason = el("input", { type: "text", maxLength: 500, className: "rq-reason", placeholder: t("rq.reason") });
    const ok = el("button", { type: "button", className: "primary", dataset: { act: "approve" } }, t("rq.approve"));
    const no = el("button", { type: "button", dataset: { act: "reject" } }, t("rq.reject"));
    ok.addEventListener("click", () => act(r, "approve", { reason: reason.value.trim() }));
    no.addEventListener("click", () => act(r, "reject", { reason: reason.value.trim() }));
    return el("span", { className: "rq-actions" }, reason, ok, no);
  }
  if (r.status === "approved") {
    const v = vehicleSelect("rq-vehicle");
    const d = driverSelect("rq-driver");
    const plate = el("input", { type: "text", maxLength: 16, className: "rq-rental-plate", placeholder: t("rq.rentalPlate") });
    const company = el("input", { type: "text", maxLength: 100, className: "rq-rental-company", placeholder: t("rq.rentalCompany") });
    const go = el("button", { type: "button", className: "primary", dataset: { act: "dispatch" } }, t("rq.dispatch"));
    go.addEventListener("click", () =>
      act(r, "dispatch", v.value
        ? { vehicle_id: Number(v.value), driver_id: Number(d.value) || 0 }
        : { rental_plate: plate.value.trim(), rental_company: company.value.trim() }));
    return el("span", { className: "rq-actions" }, v, d, plate, company, go);
  }
  return "";
}

function statusText(r) {
  let s = t(`rq.status.${r.status}`);
  if (r.emergency) s += ` · ${t("rq.emergency")}`;
  if (r.decision_reason) s += ` · ${r.decision_reason}`;
  return s;
}

function car(r) {
  if (r.plate) return `${r.plate} · ${r.driver || ""}`;
  if (r.rental_plate) return `${r.rental_plate} · ${r.rental_company} (${t("rq.rentalShort")})`;
  return "";
}

function render() {
  fillSelect($("f-status"), t("rq.allStatuses"), STATUSES.map((s) => ({ value: s, label: t(`rq.status.${s}`) })));
  fillSelect($("a-landmark"), t("rq.noLandmark"), landmarks.map((l) => ({ value: l.id, label: l.name })));
  const headers = ["rq.h.id", "rq.h.requester", "rq.h.purpose", "rq.h.destination", "rq.h.window", "rq.h.status", "rq.h.car", "rq.h.actions"];
  const rows = requests.map((r) => [
    `#${r.id}`, `${r.requester} · ${r.unit}`, `${r.purpose} (${t("rq.people", { n: r.passengers })})`,
    r.dest_landmark ? `${r.destination} · ${r.dest_landmark}` : r.destination,
    `${formatTime(r.from)} – ${formatTime(r.to)}`, statusText(r), car(r), actions(r),
  ]);
  const tbl = table(headers, rows, (i) => ({ dataset: { id: String(requests[i].id), status: requests[i].status, purpose: requests[i].purpose } }));
  tbl.id = "requests";
  $("list").replaceChildren(tbl);
  if (manager) {
    fillSelect($("d-unit"), t("rq.d.unit"), unitItems(units));
    $("drivers").replaceChildren(table(["rq.d.name", "rq.d.phone", "rq.d.unitH"], drivers.map((d) => [d.name, d.phone, d.unit])));
    const row = $("e-row");
    row.replaceChildren(el("span", {}, t("rq.emergencyCar")), vehicleSelect(""), driverSelect(""),
      el("input", { type: "text", maxLength: 16, placeholder: t("rq.rentalPlate") }),
      el("input", { type: "text", maxLength: 100, placeholder: t("rq.rentalCompany") }));
    const [, v, d, plate, company] = row.children;
    v.id = "e-vehicle";
    d.id = "e-driver";
    plate.id = "e-rental-plate";
    company.id = "e-rental-company";
  }
}

async function reload() {
  const q = $("f-status").value ? `?status=${$("f-status").value}` : "";
  requests = await listAll(`/api/v1/trip-requests${q}`);
  if (manager) drivers = (await get("/api/v1/drivers")).items;
  render();
}

async function addDriver(ev) {
  ev.preventDefault();
  try {
    await post("/api/v1/drivers", { unit_id: Number($("d-unit").value), name: $("d-name").value.trim(), phone: $("d-phone").value.trim() });
    $("driver").reset();
    await reload();
  } catch (e) {
    toast(errorText(e));
  }
}

async function main() {
  user = await startPage();
  if (!user) return; // api.js went to the login page, or staff elsewhere came here
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  manager = user.role === "admin" || user.role === "supervisor";
  for (const e of document.querySelectorAll(".rq-manager")) e.hidden = !manager;
  $("apply").hidden = user.role === "inspector";
  $("apply").after(el("div", { id: "e-row", className: "toolbar rq-manager", hidden: !manager }));
  landmarks = (await get("/api/v1/landmarks")).items || [];
  if (user.role !== "inspector") destMap = await createDestinationMap($("a-map"), await get("/api/v1/ui/config"), toast);
  else $("a-map-box").hidden = true;
  if (manager) {
    [vehicles, units] = await Promise.all([listAll("/api/v1/vehicles"), get("/api/v1/units").then((u) => u.items)]);
  }
  $("apply").addEventListener("submit", submit);
  $("a-emergency").addEventListener("click", emergency);
  $("driver").addEventListener("submit", addDriver);
  $("f-status").addEventListener("change", () => reload().catch((e) => toast(errorText(e))));
  document.addEventListener("langchange", render);
  await reload();
  document.body.dataset.ready = "true";
}

main().catch((e) => toast(t("error", { msg: e.message })));
