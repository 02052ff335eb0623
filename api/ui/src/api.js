// The API client every page shares: same-origin fetches with the session
// cookie, the CSRF token (kept by the login page in sessionStorage, or read
// again from GET /api/v1/me) on unsafe requests, and a trip back to the
// login page when the session is gone or its one-time password must change.
// Requests ask for the page's language: the server's messages (validation
// errors, refusals) come back in it.
import { lang } from "./i18n.js";

export class ApiError extends Error {
  // lines are the bad lines of an import ({line, message}), features its
  // bad features ({index, name, message}), if any.
  constructor(status, code, message, lines, features) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.lines = lines || [];
    this.features = features || [];
  }
}

let csrf = sessionStorage.getItem("csrf_token") || "";

function toLogin() {
  location.assign("/login");
}

export async function request(method, path, body, contentType = "application/json") {
  const headers = { "Accept-Language": lang() === "en" ? "en" : "zh-CN,zh;q=0.9" };
  if (method !== "GET" && method !== "HEAD") {
    if (csrf) headers["X-CSRF-Token"] = csrf;
    // A FormData body brings its own multipart type (with its boundary).
    if (body !== undefined && contentType) headers["Content-Type"] = contentType;
  }
  const raw = body === undefined || typeof body === "string" || body instanceof Blob || body instanceof FormData;
  const payload = raw ? body : JSON.stringify(body);
  const resp = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const code = data.error && data.error.code;
    if (resp.status === 401 || code === "password_change_required") toLogin();
    throw new ApiError(resp.status, code, data.error && data.error.message, data.error && data.error.lines,
      data.error && data.error.features);
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body, contentType) => request("POST", path, body, contentType);
export const patch = (path, body) => request("PATCH", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

// me returns the logged-in user and refreshes the CSRF token.
export async function me() {
  const data = await get("/api/v1/me");
  if (data.csrf_token) {
    csrf = data.csrf_token;
    sessionStorage.setItem("csrf_token", csrf);
  }
  return data.user;
}

export async function logout() {
  try {
    await post("/api/v1/logout");
  } finally {
    sessionStorage.removeItem("csrf_token");
    toLogin();
  }
}

// listAll reads every page of a list endpoint (500 items a page).
export async function listAll(path) {
  const sep = path.includes("?") ? "&" : "?";
  const items = [];
  for (;;) {
    const page = await get(`${path}${sep}limit=500&offset=${items.length}`);
    items.push(...page.items);
    if (page.items.length === 0 || items.length >= page.total) return items;
  }
}

// liveSocket opens GET /api/v1/live (the session cookie goes along).
export function liveSocket() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return new WebSocket(`${scheme}//${location.host}/api/v1/live`);
}

// postRaw sends a file or any Blob as the request body (an upload the
// server reads whole, such as an evidence export to verify).
export const postRaw = (path, blob) => request("POST", path, blob, "application/octet-stream");

// postForm sends a FormData (text fields and files) as multipart/form-data.
export const postForm = (path, form) => request("POST", path, form, "");
