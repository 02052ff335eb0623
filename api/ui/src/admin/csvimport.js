// A CSV import as the administration tabs offer it: a button that picks a
// file, a template to start from, and a result box that says what was
// imported or, when the server refused the file, that nothing was and
// every bad line with its number and the server's reason.
import { post } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { button, errorText } from "./common.js";

// csvImport returns the toolbar's nodes (button, template link, hidden
// file input) and the result box for an import to path: prefix names the
// elements (#<prefix>-file, #<prefix>-import-result, #<prefix>-bad-lines),
// header is the template's first line, done(answer) says what was
// imported and runs after a good file.
export function csvImport({ prefix, path, header, template, done }) {
  const file = el("input", { id: `${prefix}-file`, type: "file", accept: ".csv,text/csv", hidden: true });
  const result = el("div", { id: `${prefix}-import-result`, className: "import-result", hidden: true });
  const tools = [
    button("admin.v.import", "import", () => file.click()),
    el("a", { href: "data:text/csv;charset=utf-8," + encodeURIComponent(header + "\n"), download: template }, t("admin.v.template")),
    file,
  ];
  file.addEventListener("change", async () => {
    const f = file.files[0];
    file.value = "";
    if (!f) return;
    result.hidden = false;
    result.className = "import-result";
    result.replaceChildren(t("admin.v.importing"));
    try {
      const r = await post(path, await f.text(), "text/csv");
      result.classList.add("ok");
      result.replaceChildren(done(r));
    } catch (e) {
      result.classList.add("bad");
      const lines = e.lines || [];
      result.replaceChildren(
        el("div", { className: "import-title" }, lines.length ? t("admin.v.nothingImported", { n: lines.length }) : errorText(e)),
        el(
          "ul",
          { id: `${prefix}-bad-lines` },
          ...lines.map((l) =>
            el("li", { dataset: { line: l.line } }, l.line ? t("admin.v.line", { line: l.line, message: l.message }) : l.message),
          ),
        ),
      );
    }
  });
  return { tools, result };
}
