// Durations as people write them, as the server's XLSX export does:
// Chinese names every unit below the largest (2分0秒, 1小时0分5秒), English
// only those that are not zero ("2 min", "1 h 5 s"); never Go's "2m0s".
import { lang } from "../i18n.js";

export function formatSeconds(s) {
  const n = Math.round(s);
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = n % 60;
  if (lang() !== "en") {
    if (h > 0) return `${h}小时${m}分${sec}秒`;
    return m > 0 ? `${m}分${sec}秒` : `${sec}秒`;
  }
  const parts = [];
  if (h > 0) parts.push(`${h} h`);
  if (m > 0) parts.push(`${m} min`);
  if (sec > 0 || parts.length === 0) parts.push(`${sec} s`);
  return parts.join(" ");
}
