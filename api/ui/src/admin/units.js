// The units tab (administrators): the tree of the jurisdiction; create a
// unit under another, rename one, move one under another parent within
// the jurisdiction; at the top, import a CSV file of unit paths, whose
// bad lines are all shown and of which nothing is imported then.
import { get, patch, post } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { toast } from "../toast.js";
import { button, errorText, field, openDialog, select, unitItems } from "./common.js";
import { csvImport } from "./csvimport.js";

export function unitsTab(pane, ctx) {
  const tree = el("div", { id: "unit-tree", className: "unit-tree" });
  const msg = el("p", { className: "msg", role: "alert" });
  // Only the top creates units by import (the server says so too).
  const imp = ctx.user.unit_id
    ? { tools: [], result: "" }
    : csvImport({
        prefix: "n",
        path: "/api/v1/units/import",
        header: "path",
        template: "units.csv",
        done: (r) => {
          reload();
          return t("admin.n.imported", r);
        },
      });
  pane.replaceChildren(
    el("div", { className: "toolbar" }, button("admin.n.new", "new", () => create(null), "primary"), ...imp.tools),
    imp.result,
    msg,
    tree,
  );

  async function reload() {
    try {
      ctx.units = (await get("/api/v1/units")).items;
    } catch (e) {
      msg.textContent = errorText(e);
      return;
    }
    draw();
  }

  function draw() {
    const ids = new Set(ctx.units.map((u) => u.id));
    const children = new Map();
    for (const u of ctx.units) {
      // The roots of a jurisdiction are the units whose parent is outside it.
      const parent = ids.has(u.parent_id) ? u.parent_id : 0;
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(u);
    }
    const branch = (parent) =>
      el(
        "ul",
        {},
        ...(children.get(parent) || [])
          .sort((a, b) => a.name.localeCompare(b.name, "zh-CN"))
          .map((u) =>
            el(
              "li",
              { dataset: { unit: u.path } },
              el(
                "div",
                { className: "unit-row" },
                el("span", { className: "unit-name" }, u.name),
                button("admin.n.add", "add", () => create(u)),
                button("admin.n.rename", "rename", () => rename(u)),
                button("admin.n.move", "move", () => move(u)),
              ),
              children.has(u.id) ? branch(u.id) : "",
            ),
          ),
      );
    tree.replaceChildren(branch(0));
  }

  function parents(except) {
    const top = ctx.user.unit_id ? [] : [{ value: 0, label: t("admin.u.top") }];
    const inside = except ? (u) => u.path !== except.path && !u.path.startsWith(except.path + "/") : () => true;
    return [...top, ...unitItems(ctx.units.filter(inside))];
  }

  function create(parent) {
    const name = el("input", { name: "name", required: true, maxLength: 100 });
    const p = select("parent_id", parents(null), parent ? parent.id : ctx.user.unit_id || 0);
    openDialog("admin.n.new", [field("admin.n.parent", p), field("admin.n.name", name)], async () => {
      await post("/api/v1/units", { parent_id: Number(p.value), name: name.value.trim() });
      toast(t("admin.saved"));
      await reload();
    }, "n-dialog");
  }

  function rename(u) {
    const name = el("input", { name: "name", required: true, maxLength: 100, value: u.name });
    openDialog("admin.n.rename", [field("admin.n.name", name)], async () => {
      await patch(`/api/v1/units/${u.id}`, { name: name.value.trim() });
      toast(t("admin.saved"));
      await reload();
    }, "n-dialog");
  }

  function move(u) {
    const p = select("parent_id", parents(u), u.parent_id || 0);
    openDialog("admin.n.move", [el("p", { className: "note" }, u.path), field("admin.n.parent", p)], async () => {
      await patch(`/api/v1/units/${u.id}`, { parent_id: Number(p.value) });
      toast(t("admin.saved"));
      await reload();
    }, "n-dialog");
  }

  draw();
}
