// Durations as people write them: 2分0秒, "2 min 0 s"; never Go's "2m0s".
import { t } from "../i18n.js";
import "./messages.js";

export function formatSeconds(s) {
  const n = Math.round(s);
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = n % 60;
  if (h > 0) return t("al.dur.hms", { h, m, s: sec });
  if (m > 0) return t("al.dur.ms", { m, s: sec });
  return t("al.dur.s", { s: sec });
}
