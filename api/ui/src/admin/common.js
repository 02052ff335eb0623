// What the administration tabs share: tables, a pager for server-side
// pages, form dialogs that show the server's refusal, and selects of the
// units in the user's jurisdiction. Everything from the server goes in as
// text (dom.js).
import { ApiError, get } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";

export const PAGE_SIZE = 50;

// errorText is what to tell the user of a failed request: the server's
// message (in the page's language), or that the network failed.
export function errorText(e) {
  return e instanceof ApiError ? e.message : t("admin.network");
}

// table returns a table of rows (arrays of nodes or text) under headers
// (message keys); rowProps(i) gives each row's properties.
export function table(headers, rows, rowProps = () => ({})) {
  return el(
    "table",
    { className: "admin-table" },
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, t(h))))),
    el(
      "tbody",
      {},
      ...(rows.length
        ? rows.map((r, i) => el("tr", rowProps(i), ...r.map((c) => el("td", {}, c))))
        : [el("tr", {}, el("td", { colSpan: headers.length, className: "empty" }, t("admin.none")))]),
    ),
  );
}

// pager shows where a page is in total and moves by a page.
export function pager(total, offset, limit, go) {
  const prev = el("button", { type: "button", disabled: offset === 0, dataset: { act: "prev" } }, t("admin.prev"));
  const next = el("button", { type: "button", disabled: offset + limit >= total, dataset: { act: "next" } }, t("admin.next"));
  prev.addEventListener("click", () => go(Math.max(0, offset - limit)));
  next.addEventListener("click", () => go(offset + limit));
  const shown = total === 0 ? t("admin.pageEmpty") : t("admin.page", { from: offset + 1, to: Math.min(offset + limit, total), total });
  return el("div", { className: "pager" }, prev, el("span", { className: "pager-text" }, shown), next);
}

// button is a small action button.
export function button(key, act, onClick, className = "") {
  const b = el("button", { type: "button", className, dataset: { act } }, t(key));
  b.addEventListener("click", onClick);
  return b;
}

// field is a labelled input.
export function field(key, input) {
  return el("label", { className: "field" }, el("span", {}, t(key)), input);
}

// options fills a select: items of {value, label}.
export function select(name, items, value) {
  const s = el("select", { name });
  for (const it of items) s.append(el("option", { value: String(it.value), selected: String(it.value) === String(value ?? "") }, it.label));
  return s;
}

// unitItems are the units (GET /api/v1/units) as select items, by path.
export function unitItems(units) {
  return [...units].sort((a, b) => (a.path < b.path ? -1 : 1)).map((u) => ({ value: u.id, label: u.path }));
}

// openDialog shows a modal form: onSave runs on submit; the dialog closes
// when it resolves, and shows the server's refusal when it throws.
export function openDialog(titleKey, body, onSave, id) {
  const msg = el("p", { className: "msg", role: "alert" });
  const save = el("button", { type: "submit", className: "primary", dataset: { act: "save" } }, t("admin.save"));
  const cancel = el("button", { type: "button", dataset: { act: "cancel" } }, t("admin.cancel"));
  const form = el("form", {}, el("h2", {}, t(titleKey)), ...body, el("div", { className: "buttons" }, save, cancel), msg);
  const dlg = el("dialog", { className: "admin-dialog", id: id || "" }, form);
  document.body.append(dlg);
  const close = () => {
    dlg.close();
    dlg.remove();
  };
  cancel.addEventListener("click", close);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    save.disabled = true;
    try {
      await onSave(form);
      close();
    } catch (e) {
      msg.textContent = errorText(e);
    } finally {
      save.disabled = false;
    }
  });
  dlg.showModal();
  return dlg;
}

// secretBox shows a one-time password once: it is never fetched again.
export function secretBox(who, secret) {
  return el(
    "div",
    { className: "secret", id: "otp-box" },
    el("div", {}, t("admin.otpFor", { name: who })),
    el("code", { id: "otp" }, secret),
    el("div", { className: "note" }, t("admin.otpOnce")),
  );
}

// pagedList shows a list endpoint a page at a time in holder: query()
// gives the filter (URLSearchParams), headers the columns, row(item) an
// item's cells and props(item) its row's properties; a refusal goes to msg.
// It returns load (this page again) and first (the first page, after the
// filter changed).
export function pagedList({ holder, msg, path, query, headers, row, props }) {
  let offset = 0;
  async function load() {
    msg.textContent = "";
    const q = query();
    q.set("limit", PAGE_SIZE);
    q.set("offset", offset);
    try {
      const page = await get(`${path}?${q}`);
      holder.replaceChildren(
        table(headers, page.items.map(row), (i) => props(page.items[i])),
        pager(page.total, offset, PAGE_SIZE, (o) => {
          offset = o;
          load();
        }),
      );
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }
  const first = () => {
    offset = 0;
    return load();
  };
  return { load, first };
}

// onTyped runs fn a moment after the user stops typing in input.
export function onTyped(input, fn) {
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(fn, 250);
  });
}
