// fleetmon login and password change. /login posts the form to
// /api/v1/login, keeps the session's CSRF token in sessionStorage for the
// pages that follow, asks for a new password when the account has a
// one-time one, and then opens the live map. /password asks a signed-in
// user for the current password and a new one. The password rule shown is
// the server's (GET /api/v1/password-policy); the server's messages come in
// the page's language (Accept-Language).
"use strict";
const home = "/ui/live.html";
const LANG_STORE = "fleetmon.lang"; // shared with the pages' i18n.js
let lang = localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh-CN";
let current = "";
const onPasswordPage = location.pathname === "/password";

const text = {
  "zh-CN": {
    title: "公务用车监管平台", lang: "English", login: "登录", name: "用户名", password: "密码", submitLogin: "登录",
    change: "修改密码", changeWhy: "首次登录或密码被重置后，请设置新密码。", current: "当前密码", newpw: "新密码",
    newpw2: "再次输入新密码", rules: "密码要求：", save: "保存新密码", back: "返回",
    mismatch: "两次输入的新密码不一致", failed: "操作失败", network: "网络错误，请稍后再试", saved: "密码已修改",
    pageTitle: "公务用车监管平台 登录",
  },
  en: {
    title: "Official vehicle monitoring", lang: "中文", login: "Log in", name: "User name", password: "Password", submitLogin: "Log in",
    change: "Change password", changeWhy: "After the first login or a reset, set a new password.", current: "Current password",
    newpw: "New password", newpw2: "New password again", rules: "The password must be:", save: "Save the new password", back: "Back",
    mismatch: "The two new passwords differ", failed: "Failed", network: "Network error, try again later", saved: "Password changed",
    pageTitle: "fleetmon login",
  },
};
const t = (k) => text[lang][k];
const $ = (id) => document.getElementById(id);

async function call(method, path, body, csrf) {
  const headers = { "Accept-Language": lang === "en" ? "en" : "zh-CN,zh;q=0.9" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  const data = resp.status === 204 ? {} : await resp.json().catch(() => ({}));
  return { ok: resp.ok, status: resp.status, data };
}

function say(el, msg, ok) {
  el.textContent = msg;
  el.classList.toggle("ok", !!ok);
}

async function showRules() {
  const { ok, data } = await call("GET", "/api/v1/password-policy").catch(() => ({ ok: false }));
  const ul = $("rules");
  ul.replaceChildren();
  if (!ok) return;
  for (const r of data.rules) {
    const li = document.createElement("li");
    li.textContent = r;
    ul.append(li);
  }
}

function render() {
  document.documentElement.lang = lang;
  document.title = t("pageTitle");
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  if (!$("change").hidden) showRules();
}

function showChange() {
  $("login").hidden = true;
  $("change").hidden = false;
  $("current-row").hidden = !onPasswordPage;
  $("current").required = onPasswordPage;
  $("change-why").hidden = onPasswordPage;
  $("back").hidden = !onPasswordPage;
  showRules();
  (onPasswordPage ? $("current") : $("newpw")).focus();
}

$("lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh-CN" : "en";
  localStorage.setItem(LANG_STORE, lang);
  render();
});

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("msg");
  say(msg, "");
  current = $("password").value;
  try {
    const { ok, data } = await call("POST", "/api/v1/login", { name: $("name").value, password: current });
    if (!ok) {
      say(msg, data.error ? data.error.message : t("failed"));
      return;
    }
    sessionStorage.setItem("csrf_token", data.csrf_token);
    if (data.user.must_change_password) {
      showChange();
      return;
    }
    location.assign(home);
  } catch (e) {
    say(msg, t("network"));
  }
});

$("change").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("msg2");
  say(msg, "");
  if ($("newpw").value !== $("newpw2").value) {
    say(msg, t("mismatch"));
    $("newpw2").focus();
    return;
  }
  if (onPasswordPage) current = $("current").value;
  try {
    const { ok, data } = await call("POST", "/api/v1/me/password",
      { current_password: current, new_password: $("newpw").value }, sessionStorage.getItem("csrf_token"));
    if (!ok) {
      say(msg, data.error ? data.error.message : t("failed"));
      return;
    }
    say(msg, t("saved"), true);
    location.assign(home);
  } catch (e) {
    say(msg, t("network"));
  }
});

render();
if (onPasswordPage) {
  // Signed in? The CSRF token comes again with the user.
  call("GET", "/api/v1/me").then(({ ok, data }) => {
    if (!ok) {
      location.assign("/login");
      return;
    }
    if (data.csrf_token) sessionStorage.setItem("csrf_token", data.csrf_token);
    showChange();
  }, () => say($("msg"), t("network")));
}
