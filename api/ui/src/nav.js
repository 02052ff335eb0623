// The navigation every page carries: the pages that exist, those the
// signed-in user's role may use, the current one marked, and the link to
// change one's password. Pages put an empty <nav id="nav"> in their header.
import { el } from "./dom.js";
import { t } from "./i18n.js";

// PAGES in the order the navigation shows them; roles limits a page to
// those roles (none: every role but staff, who request cars and see
// nothing of the monitoring).
export const PAGES = [
  { id: "live", href: "/ui/live.html", key: "nav.live" },
  { id: "alerts", href: "/ui/alerts.html", key: "nav.alerts" },
  { id: "tips", href: "/ui/tips.html", key: "nav.tips" },
  { id: "replay", href: "/ui/replay.html", key: "nav.replay" },
  { id: "area", href: "/ui/area.html", key: "nav.area" },
  { id: "reports", href: "/ui/reports.html", key: "nav.reports" },
  { id: "requests", href: "/ui/requests.html", key: "nav.requests", roles: ["admin", "supervisor", "inspector", "staff"] },
  { id: "dispatch", href: "/ui/dispatch.html", key: "nav.dispatch" },
  { id: "fuel", href: "/ui/fuel.html", key: "nav.fuel" },
  { id: "verify", href: "/ui/verify.html", key: "nav.verify" },
  { id: "audit", href: "/ui/audit.html", key: "nav.audit", roles: ["admin", "inspector"] },
  { id: "geofences", href: "/ui/geofences.html", key: "nav.geofences", roles: ["admin", "supervisor"] },
  { id: "admin", href: "/ui/admin.html", key: "nav.admin", roles: ["admin", "supervisor"] },
];

// pagesFor lists the pages role may open.
export function pagesFor(role) {
  return PAGES.filter((p) => (p.roles ? p.roles.includes(role) : role !== "staff"));
}

// renderNav fills #nav for user, and again on a change of language.
export function renderNav(user) {
  const nav = document.getElementById("nav");
  if (!nav || !user) return;
  const here = location.pathname;
  const draw = () => {
    nav.replaceChildren(
      ...pagesFor(user.role).map((p) =>
        el("a", { href: p.href, className: here === p.href ? "current" : "", dataset: { page: p.id } }, t(p.key)),
      ),
      el("a", { href: "/password", className: "password", dataset: { page: "password" } }, t("nav.password")),
    );
  };
  draw();
  document.addEventListener("langchange", draw);
}
