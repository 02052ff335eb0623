// fleetmon login: posts the form to /api/v1/login and keeps the CSRF token
// for the session in sessionStorage for the pages that follow.
"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = document.getElementById("msg");
  msg.textContent = "";
  const body = JSON.stringify({
    name: document.getElementById("name").value,
    password: document.getElementById("password").value,
  });
  try {
    const resp = await fetch("/api/v1/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      credentials: "same-origin",
    });
    const data = await resp.json();
    if (!resp.ok) {
      msg.textContent = data.error ? data.error.message : "登录失败 / login failed";
      return;
    }
    sessionStorage.setItem("csrf_token", data.csrf_token);
    msg.textContent = data.user.must_change_password
      ? "请修改一次性密码 / change your one-time password (POST /api/v1/me/password)"
      : "已登录 / logged in as " + data.user.name;
  } catch (e) {
    msg.textContent = "网络错误 / network error";
  }
});
