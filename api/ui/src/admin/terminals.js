// The terminals tab: each terminal of the jurisdiction with its vehicle,
// whether it is online, its last report, protocol version, maker and
// model; at the top of the tree, the terminals bound to no vehicle too.
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";
import { onTyped, pagedList } from "./common.js";

const VERSIONS = { 2011: "JT/T 808-2011", 2013: "JT/T 808-2013", 2019: "JT/T 808-2019" };

export function terminalsTab(pane, { user }) {
  const search = el("input", { id: "t-search", type: "search", placeholder: t("admin.t.search"), autocomplete: "off" });
  const unbound = el("input", { id: "t-unbound", type: "checkbox" });
  const list = el("div", { id: "t-list" });
  const msg = el("p", { className: "msg", role: "alert" });
  // Unbound terminals belong to no unit: only the top of the tree sees them.
  const top = !user.unit_id;
  pane.replaceChildren(
    el("div", { className: "toolbar" }, search, top ? el("label", { className: "check" }, unbound, t("admin.t.unbound")) : ""),
    msg,
    list,
  );

  const rows = pagedList({
    holder: list,
    msg,
    path: "/api/v1/terminals",
    query: () => {
      const q = new URLSearchParams();
      if (search.value.trim()) q.set("q", search.value.trim());
      if (unbound.checked) q.set("unbound", "true");
      return q;
    },
    headers: ["admin.t.phone", "detail.plate", "detail.terminalStatus", "detail.lastReport", "admin.t.version", "admin.t.maker", "admin.t.model"],
    row: (x) => [
      x.phone,
      x.plate || el("i", {}, t("admin.t.none")),
      el("span", { className: `dot ${x.online ? "moving" : "offline"}`, title: t(x.online ? "term.online" : "term.offline") }),
      x.last_seen_at ? formatTime(x.last_seen_at) : "—",
      VERSIONS[x.protocol_version] || (x.protocol_version ? String(x.protocol_version) : "—"),
      x.maker || "—",
      x.model || "—",
    ],
    props: (x) => ({ dataset: { phone: x.phone, online: x.online } }),
  });
  onTyped(search, rows.first);
  unbound.addEventListener("change", rows.first);
  rows.load();
}
