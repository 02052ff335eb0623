// The users tab (administrators): the users of the jurisdiction, a new one
// with its one-time password shown once, another role for one, disabling
// one, and resetting a password (a new one-time password, shown once).
import { post } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { toast } from "../toast.js";
import { button, errorText, field, openDialog, pagedList, secretBox, select, unitItems } from "./common.js";

const ROLES = ["admin", "supervisor", "inspector", "staff"];

export function usersTab(pane, { user, units }) {
  const list = el("div", { id: "u-list" });
  const secret = el("div", { id: "u-secret" });
  const msg = el("p", { className: "msg", role: "alert" });
  pane.replaceChildren(el("div", { className: "toolbar" }, button("admin.u.new", "new", create, "primary")), secret, msg, list);

  const { load } = pagedList({
    holder: list,
    msg,
    path: "/api/v1/users",
    query: () => new URLSearchParams(),
    headers: ["admin.u.name", "admin.u.role", "detail.unit", "detail.state", "admin.actions"],
    row: (u) => [
      el("b", {}, u.name),
      t(`role.${u.role}`),
      u.unit || t("admin.u.top"),
      u.disabled ? t("admin.u.disabled") : u.must_change_password ? t("admin.u.mustChange") : t("admin.u.active"),
      el(
        "span",
        { className: "actions" },
        u.id === user.id || u.disabled ? "" : button("admin.u.disable", "disable", () => disable(u)),
        u.id === user.id ? "" : button("admin.u.setRole", "role", () => setRole(u)),
        u.id === user.id ? "" : button("admin.u.reset", "reset", () => reset(u)),
      ),
    ],
    props: (u) => ({ dataset: { name: u.name } }),
  });

  function create() {
    const name = el("input", { name: "name", required: true, maxLength: 64, autocomplete: "off" });
    const role = select("role", ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })), "supervisor");
    const top = user.unit_id ? [] : [{ value: 0, label: t("admin.u.top") }];
    const unit = select("unit_id", [...top, ...unitItems(units)], user.unit_id || "");
    openDialog("admin.u.new", [field("admin.u.name", name), field("admin.u.role", role), field("detail.unit", unit)], async () => {
      const r = await post("/api/v1/users", { name: name.value.trim(), role: role.value, unit_id: Number(unit.value) });
      secret.replaceChildren(secretBox(r.user.name, r.one_time_password));
      load();
    }, "u-dialog");
  }

  function setRole(u) {
    const role = select("role", ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })), u.role);
    openDialog("admin.u.setRole", [el("p", { className: "note" }, u.name), field("admin.u.role", role)], async () => {
      await post(`/api/v1/users/${u.id}/role`, { role: role.value });
      toast(t("admin.saved"));
      load();
    }, "u-dialog");
  }

  async function disable(u) {
    if (!confirm(t("admin.u.confirmDisable", { name: u.name }))) return;
    try {
      await post(`/api/v1/users/${u.id}/disable`);
      toast(t("admin.saved"));
      load();
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }

  async function reset(u) {
    if (!confirm(t("admin.u.confirmReset", { name: u.name }))) return;
    try {
      const r = await post(`/api/v1/users/${u.id}/reset-password`);
      secret.replaceChildren(secretBox(u.name, r.one_time_password));
      load();
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }

  load();
}
