// The rule parameters tab (规则参数): for a unit of the jurisdiction, every
// parameter the rules use, in the units people think in (minutes or
// seconds, km/h, metres), and where it comes from: set by the unit
// itself, inherited from a unit above it or from the defaults, or
// fleetmon's own. One is set here, or cleared so that it is inherited
// again; the server checks and audits each change.
import { del, get, put } from "../api.js";
import { el } from "../dom.js";
import { has, lang, t } from "../i18n.js";
import { toast } from "../toast.js";
import { RULE_IDS as RULES } from "../rules.js";
import { button, errorText, field, openDialog, select, table, unitItems } from "./common.js";

const CATEGORIES = ["general", "confidential", "emergency", "enforcement", "special"];

// seconds reads a duration as the server writes it ("5m", "1h30m", "90s").
export function seconds(d) {
  let s = 0;
  for (const [, n, u] of String(d).matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|µs|us|ns)/g)) {
    s += Number(n) * ({ h: 3600, m: 60, s: 1 }[u] || 0);
  }
  return s;
}

// describe is a parameter's description in the page's language: the
// server writes it in Chinese, then English.
function describe(p) {
  // A description that starts in English ("all: 距离且时长 (…)") is shown whole.
  const m = p.doc.match(/^([^\x20-\x7e].*?)\s+([A-Za-z].*)$/);
  let text = m ? (lang() === "en" ? m[2] : m[1]) : p.doc;
  const last = p.name.split(".").pop();
  for (const key of [`category.${last}`, `place.${last}`]) if (has(key)) text += `（${t(key)}）`;
  return text;
}

// show is a parameter's value in people's units.
export function show(p, v) {
  switch (p.unit) {
    case "duration": {
      const s = seconds(v);
      return s % 60 === 0 ? t("admin.r.minutes", { n: s / 60 }) : t("admin.r.seconds", { n: s });
    }
    case "m":
      return t("admin.r.metres", { n: v });
    case "km/h":
      return v === null ? t("admin.r.speedDefault") : t("admin.r.kmh", { n: v });
    case "fixes":
      return t("admin.r.fixes", { n: v });
    case "vehicle categories":
      return v.length ? v.map((c) => t(`category.${c}`)).join("、") : t("admin.r.noneListed");
    case "rules":
      return v.length ? v.map((r) => t(`rule.${r}`)).join("、") : t("admin.r.noneListed");
    case "HH:MM":
      return v.length ? v.join("、") : t("admin.r.noneListed");
    case "all|any":
      return t(`admin.r.match.${v}`);
    default:
      return JSON.stringify(v);
  }
}

// checks is a set of checkboxes, one per value, those in on checked.
function checks(name, values, key, on) {
  const boxes = values.map((v) => el("input", { type: "checkbox", name, value: v, checked: on.includes(v) }));
  const node = el("div", { className: "checks" }, ...boxes.map((b, i) => el("label", { className: "check" }, b, t(`${key}.${values[i]}`))));
  return { node, read: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

// editor is the input for a parameter of its kind, and how to read the
// value to send from it.
function editor(p, v) {
  const num = (value, step = "1") => el("input", { name: "value", type: "number", min: "0", step, required: p.unit !== "km/h" || v !== null, value: value ?? "" });
  switch (p.unit) {
    case "duration": {
      const s = seconds(v);
      const inMinutes = s % 60 === 0;
      const n = num(inMinutes ? s / 60 : s);
      const u = select("per", [{ value: "m", label: t("admin.r.perMinutes") }, { value: "s", label: t("admin.r.perSeconds") }], inMinutes ? "m" : "s");
      return { node: el("div", { className: "inline" }, n, u), read: () => `${Number(n.value)}${u.value}` };
    }
    case "m":
    case "km/h":
    case "fixes": {
      const n = num(v);
      n.required = !p.name.startsWith("speed.limit_kmh.");
      const unit = { m: "admin.r.unitMetres", "km/h": "admin.r.unitKmh", fixes: "admin.r.unitFixes" }[p.unit];
      const read = () => (n.value === "" ? null : Number(n.value));
      return { node: el("div", { className: "inline" }, n, el("span", {}, t(unit))), read };
    }
    case "vehicle categories":
      return checks("value", CATEGORIES, "category", v);
    case "rules":
      return checks("value", RULES, "rule", v);
    case "HH:MM": {
      const x = el("input", { name: "value", value: v.join(", "), placeholder: "22:00, 23:30" });
      return { node: x, read: () => x.value.split(/[,，、\s]+/).filter(Boolean) };
    }
    case "all|any": {
      const x = select("value", ["all", "any"].map((m) => ({ value: m, label: t(`admin.r.match.${m}`) })), v);
      return { node: x, read: () => x.value };
    }
    default: {
      const x = el("input", { name: "value", value: JSON.stringify(v) });
      return { node: x, read: () => JSON.parse(x.value) };
    }
  }
}

export function ruleParamsTab(pane, { user, units }) {
  const top = user.role === "admin" && !user.unit_id ? [{ value: 0, label: t("admin.r.defaults") }] : [];
  const unit = select("unit", [...top, ...unitItems(units)], user.unit_id || 0);
  unit.id = "r-unit";
  const list = el("div", { id: "r-list" });
  const msg = el("p", { id: "r-msg", className: "msg", role: "alert" });
  pane.replaceChildren(
    el("div", { className: "toolbar" }, field("admin.r.unit", unit)),
    el("p", { className: "note" }, t("admin.r.note")),
    msg,
    list,
  );
  let current = null;

  const path = () => `/api/v1/units/${unit.value}/rule-params`;
  const unitName = (id) => (units.find((u) => u.id === id) || {}).path;

  function source(p) {
    const s = p.source;
    const here = Number(unit.value);
    if ((s.kind === "unit" && s.unit_id === here) || (s.kind === "defaults" && here === 0)) return { own: true, text: t("admin.r.own") };
    if (s.kind === "unit") return { own: false, text: unitName(s.unit_id) ? t("admin.r.fromUnit", { unit: unitName(s.unit_id) }) : t("admin.r.fromAbove") };
    if (s.kind === "defaults") return { own: false, text: t("admin.r.fromDefaults") };
    return { own: false, text: t("admin.r.builtin") };
  }

  function draw(r) {
    current = r;
    list.replaceChildren(
      table(
        ["admin.r.param", "admin.r.value", "admin.r.source", "admin.actions"],
        r.effective.map((p) => {
          const src = source(p);
          return [
            el("div", {}, el("div", {}, describe(p)), el("code", { className: "note" }, p.name)),
            el("b", { className: "r-value" }, show(p, p.value)),
            el("span", { className: src.own ? "r-source own" : "r-source" }, src.text),
            el(
              "span",
              { className: "actions" },
              button("admin.r.set", "set", () => edit(p)),
              src.own ? button("admin.r.clear", "clear", () => clear(p)) : "",
            ),
          ];
        }),
        (i) => ({ dataset: { param: r.effective[i].name, own: source(r.effective[i]).own } }),
      ),
    );
  }

  async function load() {
    msg.textContent = "";
    try {
      draw(await get(path()));
    } catch (e) {
      list.replaceChildren();
      msg.textContent = errorText(e);
    }
  }

  // save stores the unit's overrides (none: it inherits everything).
  async function save(overrides) {
    draw(Object.keys(overrides).length ? await put(path(), overrides) : await del(path()));
    toast(t("admin.saved"));
  }

  function edit(p) {
    const ed = editor(p, p.value);
    openDialog(
      "admin.r.set",
      [el("p", { className: "note" }, describe(p)), el("code", { className: "note" }, p.name), field("admin.r.value", ed.node)],
      () => save({ ...current.overrides, [p.name]: ed.read() }),
      "r-dialog",
    );
  }

  async function clear(p) {
    msg.textContent = "";
    const rest = { ...current.overrides };
    delete rest[p.name];
    try {
      await save(rest);
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }

  unit.addEventListener("change", load);
  load();
}
