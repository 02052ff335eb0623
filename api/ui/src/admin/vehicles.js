// The vehicles tab: search and page through the vehicles of the user's
// jurisdiction (server-side pages), create and edit one, bind or move its
// terminal, seal or unseal it from a time with a reason (its seal history
// shown beside), and import a CSV file, whose bad lines are all shown and
// of which nothing is imported then.
import { patch, post, put } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { toast } from "../toast.js";
import { button, field, onTyped, openDialog, pagedList, select, unitItems } from "./common.js";
import { csvImport } from "./csvimport.js";
import { commandDialog } from "./commands.js";
import { sealDialog } from "./seal.js";

const CATEGORIES = ["general", "confidential", "emergency", "enforcement", "special"];
const COLORS = [1, 2, 3, 4, 5, 9];

export function vehiclesTab(pane, { units }) {
  const search = el("input", { id: "v-search", type: "search", placeholder: t("admin.v.search"), autocomplete: "off" });
  const unit = select("unit", [{ value: "", label: t("filter.unit") }, ...unitItems(units)], "");
  unit.id = "v-unit";
  const imp = csvImport({
    prefix: "v",
    path: "/api/v1/vehicles/import",
    header: "plate,plate_color,terminal_phone,unit,category",
    template: "vehicles.csv",
    done: (r) => {
      first();
      return t("admin.v.imported", r);
    },
  });
  const list = el("div", { id: "v-list" });
  const msg = el("p", { id: "v-msg", className: "msg", role: "alert" });
  pane.replaceChildren(
    el(
      "div",
      { className: "toolbar" },
      search,
      unit,
      button("admin.v.new", "new", () => edit(null), "primary"),
      ...imp.tools,
    ),
    imp.result,
    msg,
    list,
  );

  const { load, first } = pagedList({
    holder: list,
    msg,
    path: "/api/v1/vehicles",
    query: () => {
      const q = new URLSearchParams();
      if (search.value.trim()) q.set("plate", search.value.trim());
      if (unit.value) q.set("unit_id", unit.value);
      return q;
    },
    headers: ["detail.plate", "admin.v.color", "detail.category", "detail.unit", "detail.terminal", "detail.state", "admin.actions"],
    row: (v) => [
      el("b", {}, v.plate),
      t(`color.${v.plate_color}`),
      t(`category.${v.category}`),
      v.unit,
      v.terminal_phone || "—",
      v.sealed ? t("state.sealed") : "",
      el(
        "span",
        { className: "actions" },
        button("admin.edit", "edit", () => edit(v)),
        button("admin.v.bind", "bind", () => bind(v)),
        button(v.sealed ? "admin.s.unseal" : "admin.s.seal", "seal", () => sealDialog(v, load)),
        v.terminal_phone ? button("admin.c.open", "commands", () => commandDialog(v)) : "",
      ),
    ],
    props: (v) => ({ dataset: { plate: v.plate, id: v.id } }),
  });
  onTyped(search, first);
  unit.addEventListener("change", first);

  function edit(v) {
    const plate = el("input", { name: "plate", required: true, maxLength: 16, value: v ? v.plate : "" });
    const color = select("plate_color", COLORS.map((c) => ({ value: c, label: t(`color.${c}`) })), v ? v.plate_color : 1);
    const cat = select("category", CATEGORIES.map((c) => ({ value: c, label: t(`category.${c}`) })), v ? v.category : "general");
    const u = select("unit_id", unitItems(units), v ? v.unit_id : "");
    openDialog(
      v ? "admin.v.edit" : "admin.v.new",
      [field("detail.plate", plate), field("admin.v.color", color), field("detail.category", cat), field("detail.unit", u)],
      async () => {
        const body = { plate: plate.value, plate_color: Number(color.value), category: cat.value, unit_id: Number(u.value) };
        if (v) await patch(`/api/v1/vehicles/${v.id}`, body);
        else await post("/api/v1/vehicles", body);
        toast(t("admin.saved"));
        load();
      },
      "v-dialog",
    );
  }

  function bind(v) {
    const phone = el("input", { name: "phone", required: true, maxLength: 20, inputMode: "numeric", value: v.terminal_phone || "" });
    const move = el("input", { name: "move", type: "checkbox" });
    openDialog(
      "admin.v.bind",
      [
        el("p", { className: "note" }, t("admin.v.bindFor", { plate: v.plate })),
        field("detail.terminal", phone),
        el("label", { className: "check" }, move, t("admin.v.move")),
      ],
      async () => {
        await put(`/api/v1/vehicles/${v.id}/terminal`, { phone: phone.value.trim(), move: move.checked });
        toast(t("admin.saved"));
        load();
      },
      "bind-dialog",
    );
  }

  load();
}
