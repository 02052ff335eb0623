// The administration page (管理): tabs for vehicles, terminals and alert
// notifications (supervisors and administrators) and for users and units
// (administrators), each within the user's jurisdiction. Every change goes
// through the API, which audits it; refusals show the server's reason.
import "../style.css";
import "./admin.css";
import "./messages.js";
import { get, logout } from "../api.js";
import { el } from "../dom.js";
import { t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { notifyTab } from "./notify.js";
import { terminalsTab } from "./terminals.js";
import { unitsTab } from "./units.js";
import { usersTab } from "./users.js";
import { vehiclesTab } from "./vehicles.js";

const TABS = [
  { id: "vehicles", key: "admin.tab.vehicles", open: vehiclesTab },
  { id: "terminals", key: "admin.tab.terminals", open: terminalsTab },
  { id: "users", key: "admin.tab.users", open: usersTab, roles: ["admin"] },
  { id: "units", key: "admin.tab.units", open: unitsTab, roles: ["admin"] },
  { id: "notify", key: "admin.tab.notify", open: notifyTab },
];

const $ = (id) => document.getElementById(id);

async function main() {
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  const user = await startPage();
  if (!user) return;
  $("user").textContent = user.name;
  if (user.role !== "admin" && user.role !== "supervisor") {
    $("pane").replaceChildren(el("p", { className: "msg" }, t("admin.notForRole")));
    return;
  }
  const ctx = { user, units: (await get("/api/v1/units")).items };
  const tabs = TABS.filter((x) => !x.roles || x.roles.includes(user.role));
  const show = () => {
    const id = location.hash.slice(1);
    const tab = tabs.find((x) => x.id === id) || tabs[0];
    $("tabs").replaceChildren(
      ...tabs.map((x) => el("a", { href: `#${x.id}`, className: x === tab ? "current" : "", dataset: { tab: x.id } }, t(x.key))),
    );
    tab.open($("pane"), ctx);
  };
  window.addEventListener("hashchange", show);
  document.addEventListener("langchange", show);
  show();
}

main();
