// The period picker of the replay and area pages: the shortcuts (昨天,
// 上周末, a holiday of GET /api/v1/holidays) and the from/to inputs
// (#p-yesterday, #p-weekend, #p-holiday, #p-from, #p-to), in Beijing time.

import { get } from "../api.js";
import { t } from "../i18n.js";
import { toast } from "../toast.js";
import { days, fromInput, holidays, inputValue, lastWeekend, yesterday } from "./period.js";

export function setupPeriodPicker() {
  const $ = (id) => document.getElementById(id);
  let calendar = {};
  const set = (p) => {
    $("p-from").value = inputValue(p.from);
    $("p-to").value = inputValue(p.to);
  };
  const render = () => {
    const sel = $("p-holiday");
    sel.replaceChildren(new Option(t("replay.holiday"), ""),
      ...holidays(calendar).map((h, i) => new Option(`${h.name} ${h.first} – ${h.last.slice(5)}`, i)));
  };
  $("p-yesterday").addEventListener("click", () => set(yesterday()));
  $("p-weekend").addEventListener("click", () => set(lastWeekend()));
  $("p-holiday").addEventListener("change", (ev) => {
    const h = holidays(calendar)[Number(ev.target.value)];
    if (h) set(days(h.first, h.last));
  });
  document.addEventListener("langchange", render);
  get("/api/v1/holidays").then((c) => {
    calendar = c;
    render();
  }).catch((e) => toast(t("error", { msg: e.message })));
  return {
    set,
    // period is { from, to } as RFC 3339, "" where not filled in.
    period: () => ({ from: fromInput($("p-from").value), to: fromInput($("p-to").value) }),
  };
}
