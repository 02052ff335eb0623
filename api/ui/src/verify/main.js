// The verify page: upload an evidence export (any format fleetmon exports)
// with a reason; POST /api/v1/evidence/verify checks its manifest against
// the rows stored now and, for the row formats, every line of the file,
// and the verdict is shown with the records altered, missing or added.

import "../style.css";
import "../replay/replay.css";
import "../replay/messages.js";
import { ApiError, logout, postRaw } from "../api.js";
import { t, toggle } from "../i18n.js";
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

function render() {
  const v = last;
  if (!v) return;
  $("result").hidden = false;
  const verdict = $("verdict");
  verdict.className = `verdict ${v.intact ? "ok" : "bad"}`;
  verdict.dataset.intact = v.intact;
  verdict.textContent = v.intact ? t("verify.intact") : t(v.manifest_consistent ? "verify.broken" : "verify.manifestBroken");
  const facts = [
    ["verify.plate", v.plate],
    ["verify.period", `${formatTime(v.from)} – ${formatTime(v.to)}`],
    ["verify.format", v.format || "—"],
    ["verify.rows", v.rows],
    ["verify.fileRows", v.file_rows ?? "—"],
    ["verify.exportedBy", v.exported_by],
    ["verify.exportedAt", formatTime(v.exported_at)],
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
  const diffs = v.differences || [];
  $("diff-title").hidden = $("differences").hidden = diffs.length === 0;
  $("diff-title").textContent = t("verify.differences", { n: v.differences_total });
  $("differences").replaceChildren(...diffs.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.what = d.what;
    for (const s of [formatTime(d.time), t(`verify.what.${d.what}`), String(d.fix_hash)]) {
      const td = document.createElement("td");
      td.textContent = s;
      tr.append(td);
    }
    return tr;
  }));
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
