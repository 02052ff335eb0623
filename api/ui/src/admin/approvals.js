// The trip approvals tab (用车审批): the approvals of the jurisdiction by
// unit, vehicle and period, a page at a time, each with whether it is in
// effect now and if not why (not yet, expired, the vehicle sealed); one
// entered by hand, or a CSV file of them imported whole or not at all.
import { ApiError, get, post } from "../api.js";
import { el } from "../dom.js";
import { has, t } from "../i18n.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { button, field, onTyped, openDialog, pagedList, select, unitItems } from "./common.js";
import { csvImport } from "./csvimport.js";

// findVehicle is the vehicle of the jurisdiction with exactly this plate,
// or null.
async function findVehicle(plate) {
  const page = await get(`/api/v1/vehicles?${new URLSearchParams({ plate, limit: 10 })}`);
  return page.items.find((v) => v.plate === plate) || null;
}

// dayStart is a date input's day as the API's RFC 3339, from midnight in
// Beijing time; next adds days.
function dayStart(v, next = 0) {
  const d = new Date(`${v}T00:00:00+08:00`);
  d.setUTCDate(d.getUTCDate() + next);
  return formatTime(d).replace(" ", "T") + "+08:00";
}

export function approvalsTab(pane, { units }) {
  const unit = select("unit", [{ value: "", label: t("filter.unit") }, ...unitItems(units)], "");
  unit.id = "a-unit";
  const plate = el("input", { id: "a-plate", type: "search", placeholder: t("admin.a.plate"), autocomplete: "off" });
  const from = el("input", { id: "a-from", type: "date", title: t("admin.a.periodFrom") });
  const to = el("input", { id: "a-to", type: "date", title: t("admin.a.periodTo") });
  const list = el("div", { id: "a-list" });
  const msg = el("p", { id: "a-msg", className: "msg", role: "alert" });
  const imp = csvImport({
    prefix: "a",
    path: "/api/v1/approvals/import",
    header: "vehicle_plate,driver,purpose,from,to,approver",
    template: "approvals.csv",
    done: (r) => {
      rows.first();
      return t("admin.a.imported", r);
    },
  });
  pane.replaceChildren(
    el(
      "div",
      { className: "toolbar" },
      unit,
      plate,
      el("label", { className: "check" }, t("admin.a.periodFrom"), from),
      el("label", { className: "check" }, t("admin.a.periodTo"), to),
      button("admin.a.new", "new", create, "primary"),
      ...imp.tools,
    ),
    el("p", { className: "note" }, t("admin.a.csvNote")),
    imp.result,
    msg,
    list,
  );

  // The vehicle filter is a plate: the list asks by the vehicle's id.
  let vehicle = "";
  const rows = pagedList({
    holder: list,
    msg,
    path: "/api/v1/approvals",
    query: () => {
      const q = new URLSearchParams();
      if (unit.value) q.set("unit_id", unit.value);
      if (vehicle) q.set("vehicle", vehicle);
      if (from.value) q.set("from", dayStart(from.value));
      if (to.value) q.set("to", dayStart(to.value, 1));
      return q;
    },
    headers: ["detail.plate", "admin.a.from", "admin.a.to", "admin.a.driver", "admin.a.purpose", "admin.a.approver", "admin.a.source", "admin.a.status"],
    row: (a) => [
      el("b", {}, a.plate),
      formatTime(a.from),
      formatTime(a.to),
      a.driver || "—",
      a.purpose || "—",
      a.approver || "—",
      // Approvals from another system (an OA's feed) show its name.
      has(`admin.a.src.${a.source}`) ? t(`admin.a.src.${a.source}`) : a.source,
      el(
        "span",
        { className: a.in_effect ? "status ok" : "status bad" },
        a.in_effect ? t("admin.a.in_effect") : a.reasons.map((r) => t(`admin.a.${r.code}`)).join("；"),
      ),
    ],
    props: (a) => ({ dataset: { id: a.id, plate: a.plate, status: a.status } }),
  });

  async function byPlate() {
    msg.textContent = "";
    const p = plate.value.trim();
    vehicle = "";
    if (p) {
      const v = await findVehicle(p).catch(() => null);
      if (!v) {
        list.replaceChildren();
        msg.textContent = t("admin.a.noVehicle", { plate: p });
        return;
      }
      vehicle = String(v.id);
    }
    rows.first();
  }
  onTyped(plate, byPlate);
  for (const x of [unit, from, to]) x.addEventListener("change", () => rows.first());

  function create() {
    const vplate = el("input", { name: "plate", required: true, maxLength: 16, autocomplete: "off", value: plate.value.trim() });
    const start = el("input", { name: "from", type: "datetime-local", required: true });
    const end = el("input", { name: "to", type: "datetime-local", required: true });
    const driver = el("input", { name: "driver", maxLength: 200 });
    const purpose = el("input", { name: "purpose", maxLength: 200 });
    const approver = el("input", { name: "approver", maxLength: 200 });
    openDialog(
      "admin.a.new",
      [
        field("detail.plate", vplate),
        field("admin.a.fromBJ", start),
        field("admin.a.toBJ", end),
        field("admin.a.driver", driver),
        field("admin.a.purpose", purpose),
        field("admin.a.approver", approver),
      ],
      async () => {
        const v = await findVehicle(vplate.value.trim());
        if (!v) throw new ApiError(404, "not_found", t("admin.a.noVehicle", { plate: vplate.value.trim() }));
        const a = await post("/api/v1/approvals", {
          vehicle_id: v.id,
          // The inputs are Beijing time, whatever the browser's zone.
          from: `${start.value}:00+08:00`,
          to: `${end.value}:00+08:00`,
          driver: driver.value,
          purpose: purpose.value,
          approver: approver.value,
        });
        toast(a.in_effect ? t("admin.saved") : `${t("admin.saved")}：${a.reasons.map((r) => t(`admin.a.${r.code}`)).join("；")}`);
        rows.first();
      },
      "a-dialog",
    );
  }

  rows.load();
}
