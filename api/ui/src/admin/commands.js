// Commands to a vehicle's terminal (指令) from the vehicles tab: set the
// reporting interval, over-speed threshold or server address, read the
// parameters back, ask where it is now, track it faster for a while, or
// show the driver a text; and what became of each command sent, refreshed
// while the panel is open. The server queues, audits and delivers them
// (whichever node holds the terminal), so the panel only asks and shows.
import { get, post } from "../api.js";
import { el } from "../dom.js";
import { addMessages, t } from "../i18n.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { errorText, field, select, table } from "./common.js";

addMessages("zh-CN", {
  "admin.c.open": "指令",
  "admin.c.title": "终端指令：{plate}",
  "admin.c.kind": "指令",
  "admin.c.kind.set_params": "设置参数",
  "admin.c.kind.query_params": "查询参数",
  "admin.c.kind.query_location": "查询位置",
  "admin.c.kind.track": "临时跟踪",
  "admin.c.kind.text": "文本下发",
  "admin.c.p.default_interval_s": "缺省汇报间隔（秒）",
  "admin.c.p.max_speed_kmh": "最高速度（km/h）",
  "admin.c.p.server_address": "主服务器地址",
  "admin.c.interval": "跟踪间隔（秒）",
  "admin.c.for": "跟踪时长（秒）",
  "admin.c.text": "文本",
  "admin.c.tts": "语音播报",
  "admin.c.send": "发送",
  "admin.c.close": "关闭",
  "admin.c.sent": "指令已排队，终端在线时发送",
  "admin.c.cancel": "撤销",
  "admin.c.history": "指令记录",
  "admin.c.when": "时间",
  "admin.c.what": "指令",
  "admin.c.state": "状态",
  "admin.c.by": "发送人",
  "admin.c.reply": "结果",
  "admin.c.state.queued": "排队中",
  "admin.c.state.sent": "已发送",
  "admin.c.state.answered": "已应答",
  "admin.c.state.failed": "失败",
  "admin.c.state.timed_out": "超时",
  "admin.c.state.cancelled": "已撤销",
  "admin.c.result": "结果码 {result}",
  "admin.c.r.0": "成功",
  "admin.c.r.1": "失败",
  "admin.c.r.2": "消息有误",
  "admin.c.r.3": "终端不支持",
  "admin.c.needParam": "请至少填写一项参数",
});
addMessages("en", {
  "admin.c.open": "Commands",
  "admin.c.title": "Terminal commands: {plate}",
  "admin.c.kind": "Command",
  "admin.c.kind.set_params": "Set parameters",
  "admin.c.kind.query_params": "Read parameters",
  "admin.c.kind.query_location": "Locate now",
  "admin.c.kind.track": "Track temporarily",
  "admin.c.kind.text": "Text to driver",
  "admin.c.p.default_interval_s": "Default report interval (s)",
  "admin.c.p.max_speed_kmh": "Maximum speed (km/h)",
  "admin.c.p.server_address": "Main server address",
  "admin.c.interval": "Tracking interval (s)",
  "admin.c.for": "Tracking for (s)",
  "admin.c.text": "Text",
  "admin.c.tts": "Read aloud",
  "admin.c.send": "Send",
  "admin.c.close": "Close",
  "admin.c.sent": "Queued: sent when the terminal is online",
  "admin.c.cancel": "Cancel",
  "admin.c.history": "Commands sent",
  "admin.c.when": "Time",
  "admin.c.what": "Command",
  "admin.c.state": "State",
  "admin.c.by": "By",
  "admin.c.reply": "Result",
  "admin.c.state.queued": "queued",
  "admin.c.state.sent": "sent",
  "admin.c.state.answered": "answered",
  "admin.c.state.failed": "failed",
  "admin.c.state.timed_out": "timed out",
  "admin.c.state.cancelled": "cancelled",
  "admin.c.result": "result code {result}",
  "admin.c.r.0": "done",
  "admin.c.r.1": "failed",
  "admin.c.r.2": "message refused as wrong",
  "admin.c.r.3": "not supported by the terminal",
  "admin.c.needParam": "Fill in at least one parameter",
});

// clientKey names one click of Send, so that a retried request queues the
// command once (getRandomValues, unlike randomUUID, works on an intranet
// page served over plain HTTP).
function clientKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const KINDS = ["query_location", "set_params", "query_params", "track", "text"];
const PARAMS = [
  ["default_interval_s", "number"],
  ["max_speed_kmh", "number"],
  ["server_address", "text"],
];

// replyText is a command's outcome in a line.
function replyText(c) {
  const r = c.reply;
  if (r && r.params) {
    return PARAMS.filter(([n]) => r.params[n] !== undefined)
      .map(([n]) => `${t(`admin.c.p.${n}`)}: ${r.params[n]}`)
      .join("；");
  }
  if (r && r.lat !== undefined) return `${r.lat.toFixed(5)}, ${r.lon.toFixed(5)}${r.time ? " @ " + formatTime(r.time) : ""}`;
  if (c.result !== undefined) return c.result <= 3 ? t(`admin.c.r.${c.result}`) : t("admin.c.result", { result: c.result });
  return "—";
}

// commandDialog opens the command panel of vehicle v.
export function commandDialog(v) {
  const base = `/api/v1/vehicles/${v.id}/commands`;
  const kind = select("kind", KINDS.map((k) => ({ value: k, label: t(`admin.c.kind.${k}`) })), KINDS[0]);
  const params = PARAMS.map(([n, type]) => [n, type, el("input", { name: n, type, min: 0, autocomplete: "off" })]);
  const interval = el("input", { name: "interval_s", type: "number", min: 0, max: 65535, value: 5 });
  const forS = el("input", { name: "for_s", type: "number", min: 1, max: 86400, value: 600 });
  const text = el("textarea", { name: "text", maxLength: 500, rows: 3 });
  const tts = el("input", { name: "tts", type: "checkbox" });
  const groups = {
    set_params: el("div", { className: "cmd-args" }, ...params.map(([n, , i]) => field(`admin.c.p.${n}`, i))),
    track: el("div", { className: "cmd-args" }, field("admin.c.interval", interval), field("admin.c.for", forS)),
    text: el("div", { className: "cmd-args" }, field("admin.c.text", text), el("label", { className: "check" }, tts, t("admin.c.tts"))),
  };
  const args = el("div", {});
  const showArgs = () => args.replaceChildren(...(groups[kind.value] ? [groups[kind.value]] : []));
  kind.addEventListener("change", showArgs);
  showArgs();

  const msg = el("p", { className: "msg", role: "alert" });
  const send = el("button", { type: "submit", className: "primary", dataset: { act: "send" } }, t("admin.c.send"));
  const close = el("button", { type: "button", dataset: { act: "close" } }, t("admin.c.close"));
  const history = el("div", { id: "cmd-history", className: "seal-history" });
  const form = el(
    "form",
    {},
    el("h2", {}, t("admin.c.title", { plate: v.plate })),
    field("admin.c.kind", kind),
    args,
    el("div", { className: "buttons" }, send, close),
    msg,
    history,
  );
  const dlg = el("dialog", { className: "admin-dialog wide", id: "cmd-dialog" }, form);
  document.body.append(dlg);
  let timer = 0;
  const refresh = async () => {
    try {
      const r = await get(base);
      history.replaceChildren(
        el("h3", {}, t("admin.c.history")),
        table(
          ["admin.c.when", "admin.c.what", "admin.c.state", "admin.c.by", "admin.c.reply", "admin.actions"],
          r.items.map((c) => [
            formatTime(c.created_at),
            t(`admin.c.kind.${c.kind}`),
            t(`admin.c.state.${c.state}`),
            c.created_by || "—",
            replyText(c),
            c.state === "queued" ? cancelButton(c) : "",
          ]),
          (i) => ({ dataset: { id: r.items[i].id, state: r.items[i].state, kind: r.items[i].kind } }),
        ),
      );
    } catch (e) {
      history.replaceChildren(errorText(e));
    }
  };
  const cancelButton = (c) => {
    const b = el("button", { type: "button", dataset: { act: "cancel" } }, t("admin.c.cancel"));
    b.addEventListener("click", async () => {
      try {
        await post(`${base}/${c.id}/cancel`, {});
        refresh();
      } catch (e) {
        msg.textContent = errorText(e);
      }
    });
    return b;
  };
  close.addEventListener("click", () => {
    clearInterval(timer);
    dlg.close();
    dlg.remove();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    const body = { kind: kind.value, client_key: clientKey() };
    if (kind.value === "set_params") {
      body.params = {};
      for (const [n, type, i] of params) {
        if (i.value.trim() !== "") body.params[n] = type === "number" ? Number(i.value) : i.value.trim();
      }
      if (Object.keys(body.params).length === 0) {
        msg.textContent = t("admin.c.needParam");
        return;
      }
    } else if (kind.value === "track") {
      body.interval_s = Number(interval.value);
      body.for_s = Number(forS.value);
    } else if (kind.value === "text") {
      body.text = text.value.trim();
      body.tts = tts.checked;
    }
    send.disabled = true;
    try {
      await post(base, body);
      toast(t("admin.c.sent"));
      refresh();
    } catch (e) {
      msg.textContent = errorText(e);
    } finally {
      send.disabled = false;
    }
  });
  dlg.addEventListener("close", () => clearInterval(timer));
  dlg.showModal();
  refresh();
  timer = setInterval(refresh, 3000);
}
