// The work calendars tab (supervisors and administrators): a unit's
// working hours on a grid of weekdays, beside what it inherits and from
// which unit, with what this unit overrides marked; its own days (duty
// days, days off), typed in or imported from an .ics or JSON file; and the
// national holidays and make-up workdays (调休) of a year as a calendar,
// which an administrator at the top imports. Every change goes through the
// API, which checks it, audits it and answers a refusal in the page's
// language.
import "./calendars.css";
import "./calendar-messages.js";
import { get, request } from "../api.js";
import { el } from "../dom.js";
import { lang, t } from "../i18n.js";
import { toast } from "../toast.js";
import { button, errorText, select, table, unitItems } from "./common.js";

// Rows of the grid: Monday first, then the make-up workday (调休上班).
const ROWS = [1, 2, 3, 4, 5, 6, 0, "makeup"];

const clone = (v) => (v == null ? v : JSON.parse(JSON.stringify(v)));
const minutes = (hm) => {
  const [h, m] = hm.split(":").map(Number);
  return h * 60 + m;
};
const hm = (n) => `${String(Math.floor(n / 60)).padStart(2, "0")}:${String(n % 60).padStart(2, "0")}`;

// periodsText is a day's periods as text: "08:00–12:00、14:30–18:00".
function periodsText(ps) {
  return ps && ps.length ? ps.map((p) => `${p.start}–${p.end}`).join(lang() === "en" ? ", " : "、") : t("cal.restDay");
}

function same(a, b) {
  return JSON.stringify(a || []) === JSON.stringify(b || []);
}

// dateKey is a UTC date as "2006-01-02".
const dateKey = (d) => d.toISOString().slice(0, 10);

export function calendarsTab(pane, ctx) {
  const top = ctx.user.role === "admin" && !ctx.user.unit_id;
  const items = [...(top ? [{ value: 0, label: t("cal.default") }] : []), ...unitItems(ctx.units)];
  if (ctx.calUnit === undefined) ctx.calUnit = ctx.user.unit_id && items.some((i) => i.value === ctx.user.unit_id) ? ctx.user.unit_id : items[0] && items[0].value;
  if (ctx.holYear === undefined) ctx.holYear = new Date().getFullYear();
  const unitSel = select("unit", items, ctx.calUnit);
  unitSel.id = "cal-unit";
  const msg = el("p", { className: "msg", role: "alert", id: "cal-msg" });
  const status = el("p", { className: "note", id: "cal-status" });
  const grid = el("div", { id: "cal-grid-holder" });
  const days = el("div", { id: "cal-days" });
  const hol = el("div", { id: "hol" });
  // The results of imports outlive the redraws that show what they did.
  const daysResult = el("div", { className: "import-result", id: "cal-import-result", hidden: true });
  const holResult = el("div", { className: "import-result", id: "hol-import-result", hidden: true });
  const saveBtn = button("cal.save", "save", save, "primary");
  const clearBtn = button("cal.clear", "clear", clear);
  pane.replaceChildren(
    el("div", { className: "toolbar" }, el("label", { className: "check" }, t("cal.unit"), unitSel)),
    el("h2", { className: "cal-h" }, t("cal.hours")),
    status,
    grid,
    el("div", { className: "toolbar" }, saveBtn, clearBtn),
    msg,
    el("h2", { className: "cal-h" }, t("cal.days")),
    days,
    el("h2", { className: "cal-h" }, t("hol.title")),
    hol,
  );

  let cal = null; // GET /api/v1/units/{id}/calendar
  let st = null; // the calendar being edited: week, makeup, overrides
  let holidays = null; // GET /api/v1/holidays
  const path = () => `/api/v1/units/${ctx.calUnit}/calendar`;

  unitSel.addEventListener("change", () => {
    ctx.calUnit = Number(unitSel.value);
    daysResult.hidden = true;
    load();
  });

  async function load() {
    msg.textContent = "";
    try {
      const [c, h] = await Promise.all([get(path()), holidays ? Promise.resolve(holidays) : get("/api/v1/holidays")]);
      holidays = h;
      show(c);
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }

  function show(c) {
    msg.textContent = "";
    cal = c;
    st = { week: clone(c.calendar.week), makeup: clone(c.calendar.makeup_hours ?? null), overrides: clone(c.calendar.overrides || []) };
    for (let d = 0; d < 7; d++) st.week[d] = st.week[d] || [];
    drawStatus();
    drawGrid();
    drawDays();
    drawHolidays();
  }

  // fromName names where a calendar comes from: a unit, the default, or
  // the built-in week when nothing is stored.
  function fromName(c) {
    if (c.inherited_from) return c.inherited_from_name;
    return c.calendar.id ? t("cal.defaultName") : t("cal.standard");
  }

  function drawStatus() {
    if (ctx.calUnit === 0) status.textContent = t("cal.ownDefault");
    else if (cal.own) status.textContent = t("cal.own", { from: fromName(cal.parent) });
    else status.textContent = t("cal.inherits", { from: fromName(cal) });
    status.dataset.own = String(cal.own);
    clearBtn.hidden = !cal.own || ctx.calUnit === 0;
  }

  // parentRow is what the unit would have for a row without its own
  // calendar (the default has none: its own values).
  function parentRow(row) {
    const pc = cal.parent ? cal.parent.calendar : cal.calendar;
    if (row === "makeup") return pc.makeup_hours ?? null;
    return (pc.week && pc.week[row]) || [];
  }
  const rowValue = (row) => (row === "makeup" ? st.makeup : st.week[row]);
  const setRow = (row, v) => {
    if (row === "makeup") st.makeup = v;
    else st.week[row] = v || [];
  };

  function drawGrid() {
    const head = ["cal.day", "cal.periods", "", "cal.parent", "cal.state", "admin.actions"];
    const rows = ROWS.map((row) => rowCells(row));
    const tbl = table(head, rows, (i) => ({ dataset: { day: String(ROWS[i]) }, className: "cal-row" }));
    tbl.id = "cal-grid";
    tbl.classList.add("cal-grid");
    grid.replaceChildren(tbl);
  }

  function redrawRow(row) {
    const tr = grid.querySelector(`tr[data-day="${row}"]`);
    tr.replaceChildren(...rowCells(row).map((c) => el("td", {}, c)));
  }

  function rowCells(row) {
    const v = rowValue(row);
    const parent = parentRow(row);
    const cells = [];
    cells.push(row === "makeup" ? t("cal.makeup") : t(`weekday.${row}`));
    const editor = el("div", { className: "cal-periods" });
    if (row === "makeup") {
      const cb = el("input", { type: "checkbox", checked: v === null, name: "same-as-monday" });
      cb.addEventListener("change", () => {
        setRow(row, cb.checked ? null : clone(st.week[1]));
        redrawRow(row);
      });
      editor.append(el("label", { className: "check" }, cb, t("cal.sameAsMonday")));
    }
    if (v !== null) {
      v.forEach((p, i) => {
        const start = el("input", { className: "cal-start", value: p.start, maxLength: 5, size: 5, inputMode: "numeric", placeholder: "08:00" });
        const end = el("input", { className: "cal-end", value: p.end, maxLength: 5, size: 5, inputMode: "numeric", placeholder: "12:00" });
        const changed = () => {
          p.start = start.value.trim();
          p.end = end.value.trim();
          redrawRow(row);
        };
        start.addEventListener("change", changed);
        end.addEventListener("change", changed);
        const rm = el("button", { type: "button", className: "cal-x", title: t("cal.removePeriod"), dataset: { act: "remove-period" } }, "×");
        rm.addEventListener("click", () => {
          v.splice(i, 1);
          redrawRow(row);
        });
        editor.append(el("span", { className: "cal-period", dataset: { i: String(i) } }, start, "–", end, rm));
      });
      editor.append(
        button("cal.addPeriod", "add-period", () => {
          const last = v.length ? minutes(v[v.length - 1].end) || 0 : 8 * 60 - 120;
          const s = Math.min(last + 120, 23 * 60);
          v.push({ start: hm(s), end: hm(Math.min(s + 4 * 60, 24 * 60)) });
          redrawRow(row);
        }),
      );
    }
    cells.push(editor);
    cells.push(bar(v === null ? st.week[1] : v));
    if (ctx.calUnit === 0) {
      // The default inherits nothing.
      cells.push("—", "", "");
      return cells;
    }
    cells.push(row === "makeup" && parent === null ? t("cal.sameAsMonday") : periodsText(parent));
    const over = row === "makeup" ? JSON.stringify(v) !== JSON.stringify(parent) : !same(v, parent);
    cells.push(el("span", { className: over ? "cal-badge over" : "cal-badge", dataset: { state: over ? "overridden" : "inherited" } }, t(over ? "cal.overridden" : "cal.inherited")));
    cells.push(
      over
        ? button("cal.inheritDay", "inherit-day", () => {
            setRow(row, clone(parent));
            redrawRow(row);
          })
        : "",
    );
    return cells;
  }

  // bar draws a day's periods on a 24-hour strip.
  function bar(ps) {
    const b = el("div", { className: "cal-bar" }, ...[6, 12, 18].map((h) => el("span", { className: "cal-tick", style: { left: `${(h / 24) * 100}%` } })));
    for (const p of ps || []) {
      const s = minutes(p.start);
      const e = minutes(p.end);
      if (!(s >= 0 && e > s && e <= 1440)) continue;
      b.append(el("span", { className: "cal-block", title: `${p.start}–${p.end}`, style: { left: `${(s / 1440) * 100}%`, width: `${((e - s) / 1440) * 100}%` } }));
    }
    return b;
  }

  function spec() {
    const c = cal.calendar;
    const body = { week: st.week, overrides: st.overrides };
    if (c.time_zone) body.time_zone = c.time_zone;
    if (st.makeup !== null) body.makeup_hours = st.makeup;
    return body;
  }

  async function save() {
    msg.textContent = "";
    saveBtn.disabled = true;
    try {
      const c = await request("PUT", path(), spec());
      toast(t(c.changed ? "admin.saved" : "cal.unchanged"));
      show(c);
    } catch (e) {
      msg.textContent = errorText(e);
    } finally {
      saveBtn.disabled = false;
    }
  }

  async function clear() {
    if (!window.confirm(t("cal.clearConfirm"))) return;
    msg.textContent = "";
    try {
      const c = await request("DELETE", path());
      toast(t(c.changed ? "cal.cleared" : "cal.unchanged"));
      show(c);
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }

  // The unit's own days.
  function drawDays() {
    const rows = [...st.overrides]
      .sort((a, b) => (a.date < b.date ? -1 : 1))
      .map((o) => [
        o.date,
        t(`cal.kind.${o.kind}`),
        o.name || "",
        o.kind === "workday" ? (o.periods ? periodsText(o.periods) : "") : "",
        button("cal.remove", "remove-day", () => {
          st.overrides = st.overrides.filter((x) => x !== o);
          drawDays();
          drawHolidays();
        }),
      ]);
    const list = table(["cal.date", "cal.kind", "cal.name", "cal.periods", "admin.actions"], rows, (i) => ({ dataset: { date: rows[i][0] } }));
    list.id = "cal-days-list";
    const date = el("input", { type: "date", name: "date", id: "cal-day-date" });
    const kind = select("kind", ["holiday", "workday"].map((k) => ({ value: k, label: t(`cal.kind.${k}`) })), "holiday");
    kind.id = "cal-day-kind";
    const name = el("input", { name: "name", id: "cal-day-name", maxLength: 40, placeholder: t("cal.name") });
    const add = button("cal.addDay", "add-day", () => {
      if (!date.value) return;
      st.overrides = st.overrides.filter((x) => x.date !== date.value);
      st.overrides.push({ date: date.value, kind: kind.value, ...(name.value.trim() ? { name: name.value.trim() } : {}) });
      drawDays();
      drawHolidays();
    });
    const year = el("input", { type: "number", id: "cal-days-year", min: 2000, max: 2200, value: ctx.holYear, className: "cal-year" });
    const file = el("input", { type: "file", id: "cal-days-file", accept: ".ics,.json,text/calendar,application/json" });
    file.addEventListener("change", () =>
      importFile(file, `${path()}/days?year=${Number(year.value)}`, "POST", daysResult, (c) => {
        const y = year.value;
        show(c);
        return t(c.changed ? "cal.imported" : "cal.importedSame", { years: y });
      }),
    );
    days.replaceChildren(
      list,
      el("div", { className: "toolbar" }, date, kind, name, add),
      el("p", { className: "note" }, t("cal.daysNote")),
      el("div", { className: "toolbar" }, el("label", { className: "check" }, t("cal.importDays")), el("label", { className: "check" }, t("cal.importYear"), year), file),
      daysResult,
    );
  }

  // importFile sends a chosen file to path and shows the result: what
  // done(answer) says, or every bad line of a refusal.
  async function importFile(file, url, method, result, done) {
    const f = file.files[0];
    file.value = "";
    if (!f) return;
    result.hidden = false;
    result.className = "import-result";
    result.replaceChildren(t("cal.importing"));
    try {
      const type = f.name.toLowerCase().endsWith(".json") ? "application/json" : "text/calendar";
      const r = await request(method, url, await f.text(), type);
      result.classList.add("ok");
      result.replaceChildren(done(r));
    } catch (e) {
      result.classList.add("bad");
      const lines = e.lines || [];
      result.replaceChildren(
        el("div", { className: "import-title" }, lines.length ? t("cal.nothingImported", { n: lines.length }) : errorText(e)),
        el("ul", { className: "bad-lines" }, ...lines.map((l) => el("li", { dataset: { line: l.line } }, l.line ? t("cal.line", { line: l.line, message: l.message }) : l.message))),
      );
    }
  }

  // The national calendar of a year, with the unit's own days on it.
  function drawHolidays() {
    const stored = Object.keys(holidays.years).map(Number);
    const now = new Date().getFullYear();
    const years = [...new Set([...stored, now, now + 1])].sort();
    const yearSel = select("year", years.map((y) => ({ value: y, label: String(y) })), ctx.holYear);
    yearSel.id = "hol-year";
    yearSel.addEventListener("change", () => {
      ctx.holYear = Number(yearSel.value);
      holResult.hidden = true;
      drawHolidays();
      const y = document.getElementById("cal-days-year");
      if (y) y.value = ctx.holYear;
    });
    const year = ctx.holYear;
    const notice = holidays.years[String(year)];
    const kinds = new Map(); // date -> {cls, name}
    if (notice) {
      for (const g of notice.holidays || []) for (const d of g.days) kinds.set(d, { cls: "hol", name: g.name });
      for (const d of notice.workdays || []) {
        const n = (notice.workday_names || {})[d];
        kinds.set(d, { cls: "mk", name: n ? t("hol.makeup", { name: n }) : t("hol.legend.makeup") });
      }
    }
    for (const o of st.overrides) {
      if (o.date.startsWith(`${year}-`)) kinds.set(o.date, { cls: o.kind === "holiday" ? "own-off" : "own-work", name: `${o.name || t(`cal.kind.${o.kind}`)}（${t("hol.own")}）` });
    }
    const months = [];
    for (let m = 0; m < 12; m++) months.push(month(year, m, kinds));
    const parts = [el("div", { className: "toolbar" }, el("label", { className: "check" }, t("hol.year"), yearSel), legend())];
    if (!notice) parts.push(el("p", { className: "note", id: "hol-missing" }, t("hol.notCovered", { year })));
    parts.push(el("div", { className: "hol-calendar", id: "hol-calendar" }, ...months));
    if (notice) parts.push(lists(notice));
    if (top) {
      const file = el("input", { type: "file", id: "hol-file", accept: ".ics,.json,text/calendar,application/json" });
      file.addEventListener("change", () =>
        importFile(file, `/api/v1/holidays?year=${year}`, "PUT", holResult, (r) => {
          get("/api/v1/holidays").then((h) => {
            holidays = h;
            drawHolidays();
          }, (e) => (msg.textContent = errorText(e)));
          return t(r.changed.includes(year) ? "hol.imported" : "hol.importedSame", { year });
        }),
      );
      parts.push(el("div", { className: "toolbar" }, el("label", { className: "check" }, t("hol.import", { year })), file), el("p", { className: "note" }, t("hol.importNote")), holResult);
    }
    hol.replaceChildren(...parts);
  }

  function legend() {
    return el(
      "span",
      { className: "hol-legend" },
      ...[
        ["hol", "hol.legend.holiday"],
        ["mk", "hol.legend.makeup"],
        ["own-off", "hol.legend.own"],
      ].map(([cls, key]) => el("span", { className: `hol-key ${cls}` }, t(key))),
    );
  }

  function month(year, m, kinds) {
    const first = new Date(Date.UTC(year, m, 1));
    const lead = (first.getUTCDay() + 6) % 7; // Monday first
    const cells = [];
    for (let i = 0; i < lead; i++) cells.push(el("td", {}));
    for (let d = new Date(first); d.getUTCMonth() === m; d.setUTCDate(d.getUTCDate() + 1)) {
      const key = dateKey(d);
      const k = kinds.get(key);
      const wd = d.getUTCDay();
      const cls = k ? k.cls : wd === 0 || wd === 6 ? "we" : "";
      cells.push(el("td", { className: cls, title: k ? `${key} ${k.name}` : key, dataset: { date: key } }, String(d.getUTCDate())));
    }
    const rows = [];
    for (let i = 0; i < cells.length; i += 7) rows.push(el("tr", {}, ...cells.slice(i, i + 7)));
    return el(
      "div",
      { className: "hol-month" },
      el("div", { className: "hol-month-name" }, t("hol.month", { m: m + 1 })),
      el("table", {}, el("thead", {}, el("tr", {}, ...[1, 2, 3, 4, 5, 6, 0].map((w) => el("th", {}, t(`wd.${w}`))))), el("tbody", {}, ...rows)),
    );
  }

  function lists(notice) {
    const wd = (d) => t(`weekday.${new Date(`${d}T00:00:00Z`).getUTCDay()}`);
    const range = (ds) => (ds.length === 1 ? `${ds[0]}（${wd(ds[0])}）` : `${ds[0]} – ${ds[ds.length - 1]}（${t("hol.days", { n: ds.length })}）`);
    return el(
      "div",
      { className: "hol-lists", id: "hol-list" },
      el("div", {}, el("h3", {}, t("hol.holidays")), el("ul", {}, ...(notice.holidays || []).map((g) => el("li", { dataset: { name: g.name } }, `${g.name}：${range([...g.days].sort())}`)))),
      el(
        "div",
        {},
        el("h3", {}, t("hol.workdays")),
        el(
          "ul",
          {},
          ...[...(notice.workdays || [])].sort().map((d) => {
            const n = (notice.workday_names || {})[d];
            return el("li", { dataset: { date: d } }, `${d}（${wd(d)}）${n ? t("hol.makeup", { name: n }) : t("hol.legend.makeup")}`);
          }),
        ),
      ),
    );
  }

  load();
}
