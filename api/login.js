// fleetmon login: posts the form to /api/v1/login, keeps the CSRF token for
// the session in sessionStorage for the pages that follow, asks for a new
// password when the account has a one-time one, and then opens the live map.
"use strict";
const home = "/ui/live.html";
let current = "";

async function post(path, body, csrf) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
  const data = resp.status === 204 ? {} : await resp.json();
  return { ok: resp.ok, data };
}

document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = document.getElementById("msg");
  msg.textContent = "";
  current = document.getElementById("password").value;
  try {
    const { ok, data } = await post("/api/v1/login", { name: document.getElementById("name").value, password: current });
    if (!ok) {
      msg.textContent = data.error ? data.error.message : "登录失败 / login failed";
      return;
    }
    sessionStorage.setItem("csrf_token", data.csrf_token);
    if (data.user.must_change_password) {
      document.getElementById("login").hidden = true;
      document.getElementById("change").hidden = false;
      document.getElementById("newpw").focus();
      return;
    }
    location.assign(home);
  } catch (e) {
    msg.textContent = "网络错误 / network error";
  }
});

document.getElementById("change").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = document.getElementById("msg2");
  msg.textContent = "";
  try {
    const { ok, data } = await post("/api/v1/me/password",
      { current_password: current, new_password: document.getElementById("newpw").value },
      sessionStorage.getItem("csrf_token"));
    if (!ok) {
      msg.textContent = data.error ? data.error.message : "修改失败 / change failed";
      return;
    }
    location.assign(home);
  } catch (e) {
    msg.textContent = "网络错误 / network error";
  }
});
