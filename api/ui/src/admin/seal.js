// Sealing (封存) and unsealing a vehicle from the vehicles tab: from a time
// (Beijing time; past or future: the rules judge each position by the
// seal periods covering it) with a reason, and the vehicle's seal history
// shown beside, so that whoever seals sees what was done before.
import { get, post } from "../api.js";
import { el } from "../dom.js";
import { t } from "../i18n.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { errorText, field, openDialog, table } from "./common.js";

// nowInput is a datetime-local input's value for now, in Beijing time.
export function nowInput() {
  return formatTime(new Date()).slice(0, 16).replace(" ", "T");
}

// fromInput is a datetime-local input's value as the API reads a Beijing
// time ("2026-11-20 08:30").
export function fromInput(v) {
  return v.replace("T", " ");
}

// sealDialog seals v (or unseals it, if sealed), then runs done.
export function sealDialog(v, done) {
  const sealing = !v.sealed;
  const at = el("input", { name: "at", type: "datetime-local", required: true, value: nowInput() });
  const reason = el("input", { name: "reason", required: true, maxLength: 200, autocomplete: "off" });
  const history = el("div", { id: "seal-history", className: "seal-history" }, t("admin.s.loading"));
  const dlg = openDialog(
    sealing ? "admin.s.seal" : "admin.s.unseal",
    [
      el("p", { className: "note" }, t(sealing ? "admin.s.sealFor" : "admin.s.unsealFor", { plate: v.plate })),
      field("admin.s.at", at),
      field("admin.s.reason", reason),
      history,
    ],
    async () => {
      const r = await post(`/api/v1/vehicles/${v.id}/${sealing ? "seal" : "unseal"}`, { at: fromInput(at.value), reason: reason.value.trim() });
      toast(t(r.changed ? "admin.saved" : "admin.s.already"));
      done();
    },
    "seal-dialog",
  );
  dlg.classList.add("wide");
  get(`/api/v1/vehicles/${v.id}/seals`)
    .then((h) => {
      history.replaceChildren(
        el("h3", {}, t("admin.s.history")),
        table(
          ["admin.s.what", "admin.s.at", "admin.s.reason", "admin.s.by", "admin.s.recorded"],
          h.items.map((e) => [t(e.sealed ? "admin.s.sealed" : "admin.s.unsealed"), formatTime(e.at), e.reason || "—", e.user || "—", formatTime(e.recorded_at)]),
          (i) => ({ dataset: { sealed: h.items[i].sealed } }),
        ),
      );
    })
    .catch((e) => history.replaceChildren(errorText(e)));
}
