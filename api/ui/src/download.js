// Downloading a file the server makes (an export): fetched in the page's
// language, so that a refusal comes back in it, then saved under the name
// the server gives it.
import { ApiError } from "./api.js";
import { el } from "./dom.js";
import { lang } from "./i18n.js";

// download fetches path and saves it as the server names it (fallback
// when it does not); it returns the name and size saved, or throws the
// server's refusal as an ApiError.
export async function download(path, fallback) {
  const resp = await fetch(path, {
    credentials: "same-origin", headers: { "Accept-Language": lang() === "en" ? "en" : "zh-CN,zh;q=0.9" },
  });
  if (!resp.ok) {
    const data = await resp.json().catch(() => ({}));
    throw new ApiError(resp.status, data.error && data.error.code, data.error && data.error.message);
  }
  const blob = await resp.blob();
  const name = (/filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "") || [])[1] || fallback;
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { name, size: blob.size };
}
