// The verify page: upload an evidence export (any format fleetmon exports)
// with a reason; POST /api/v1/evidence/verify checks its manifest against
// the rows stored now and, for the row formats, every line of the file,
// and the verdict is shown with the records altered, missing or added
// (each with its values, stored against the file's), apart from them the
// records received after the export, and every check that could not be
// made.

import "../style.css";
import "../replay/replay.css";
import "../replay/messages.js";
import "./messages.js";
import { ApiError, logout, postRaw } from "../api.js";
import { has, t, toggle } from "../i18n.js";
import { startPage } from "../page.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";

const $ = (id) => document.getElementById(id);

let last = null;

async function verify(ev) {
  ev.preventDefault();
  const file = $("file").files[0];
  const reason = $("reason").value.trim();
  if (!file) return toast(t("verify.file"));
  if (!reason) {
    $("reason").focus();
    return toast(t("replay.needReason"));
  }
  $("go").disabled = true;
  try {
    last = await postRaw(`/api/v1/evidence/verify?reason=${encodeURIComponent(reason)}`, file);
    render();
  } catch (e) {
    $("result").hidden = true;
    toast(e instanceof ApiError && e.code === "not_evidence" ? t("verify.notEvidence") : t("error", { msg: e.message }));
  } finally {
    $("go").disabled = false;
  }
}

// row is a table row of text cells; data goes to its dataset.
function row(cells, data = {}) {
  const tr = document.createElement("tr");
  Object.assign(tr.dataset, data);
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = String(c);
    tr.append(td);
  }
  return tr;
}

// values shows what differs in a record: 速度：存储 46.9，文件 49.6. (The
// fix hash is not shown: a 64-bit number JavaScript would round, and no
// help to a reader.)
function values(d) {
  return (d.fields || []).map((f) => t("verify.value", {
    field: has(`verify.field.${f.field}`) ? t(`verify.field.${f.field}`) : f.field, stored: f.stored, file: f.file,
  })).join("；");
}

function render() {
  const v = last;
  if (!v) return;
  $("result").hidden = false;
  const after = v.received_after_total || 0;
  const verdict = $("verdict");
  verdict.className = `verdict ${v.intact ? "ok" : "bad"}`;
  verdict.dataset.intact = v.intact;
  verdict.textContent = v.intact ? (after > 0 ? t("verify.intactAfter", { n: after }) : t("verify.intact"))
    : t(v.manifest_consistent ? "verify.broken" : "verify.manifestBroken");
  const facts = [
    ["verify.plate", v.plate],
    ["verify.period", `${formatTime(v.from)} – ${formatTime(v.to)}`],
    ["verify.format", v.format || "—"],
    ["verify.fileRead", v.format ? `${t(`verify.encoding.${v.encoding}`)} · ${t(`verify.ending.${v.line_ending}`)}` : "—"],
    ["verify.rows", v.rows],
    ["verify.fileRows", v.file_rows ?? "—"],
    ["verify.exportedBy", v.exported_by],
    ["verify.exportedAt", formatTime(v.exported_at)],
    ["verify.cutoff", v.cutoff_recorded ? formatTime(v.received_through) : t("verify.cutoffNone")],
    ["verify.exportReason", v.reason],
    ["verify.digest", v.digest],
  ];
  $("facts").replaceChildren(...facts.map(([k, val]) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = t(k);
    const td = document.createElement("td");
    td.textContent = String(val);
    tr.append(th, td);
    return tr;
  }));
  // Nothing left unchecked goes unsaid.
  const notes = [];
  if (!v.file_checked) notes.push(["unchecked", t(v.format === "html" ? "verify.note.unchecked.html" : "verify.note.unchecked.layout")]);
  if (!v.cutoff_recorded) notes.push(["no-cutoff", t("verify.note.noCutoff")]);
  if (after > 0) notes.push(["after", t("verify.note.after", { n: after })]);
  $("notes").replaceChildren(...notes.map(([k, text]) => {
    const li = document.createElement("li");
    li.dataset.note = k;
    li.textContent = text;
    return li;
  }));
  const diffs = v.differences || [];
  $("diff-title").hidden = $("differences").hidden = diffs.length === 0;
  $("diff-title").textContent = t("verify.differences", { n: v.differences_total });
  $("differences").replaceChildren(...diffs.map((d) =>
    row([formatTime(d.time), t(`verify.what.${d.what}`), values(d)], { what: d.what })));
  const later = v.received_after || [];
  $("after-title").hidden = $("received-after").hidden = later.length === 0;
  $("after-title").textContent = t("verify.receivedAfter", { n: after });
  $("received-after").replaceChildren(...later.map((d) =>
    row([formatTime(d.time), t(`verify.what.${d.what}`)], { what: d.what })));
}

async function main() {
  const user = await startPage();
  if (!user) return; // api.js went to the login page
  $("user").textContent = `${user.name} · ${user.unit || ""}`;
  $("logout").addEventListener("click", logout);
  $("lang").addEventListener("click", toggle);
  $("verify").addEventListener("submit", verify);
  document.addEventListener("langchange", render);
}

main().catch((e) => toast(t("error", { msg: e.message })));
