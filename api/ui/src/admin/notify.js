// The notifications tab (supervisors and administrators): who is told of
// which alerts (subscriptions of a unit's subtree and some or all rules,
// by webhook or e-mail), and the send log with each notification's state.
// A webhook's secret is written once and never shown again.
import { get, post, request } from "../api.js";
import { el } from "../dom.js";
import { addMessages, t } from "../i18n.js";
import { formatTime } from "../time.js";
import { toast } from "../toast.js";
import { RULE_IDS as RULES } from "../rules.js";
import { button, errorText, field, openDialog, select, table, unitItems } from "./common.js";


addMessages("zh-CN", {
  "admin.tab.notify": "告警通知",
  "notify.subs": "订阅",
  "notify.log": "发送记录",
  "notify.new": "新增订阅",
  "notify.unit": "单位（含下级）",
  "notify.allUnits": "（全部单位）",
  "notify.rules": "规则",
  "notify.allRules": "全部规则",
  "notify.rulesNote": "不选则订阅全部规则",
  "notify.channel": "通知方式",
  "notify.ch.webhook": "Webhook（OA 系统）",
  "notify.ch.email": "电子邮件",
  "notify.target": "地址",
  "notify.targetNote": "Webhook 填 http(s) 网址，电子邮件填一个邮箱地址",
  "notify.secret": "签名密钥（可选，仅 Webhook；保存后不再显示）",
  "notify.signed": "已签名",
  "notify.label": "备注",
  "notify.delete": "删除",
  "notify.confirmDelete": "删除订阅 {target}？尚未发送的通知将取消。",
  "notify.deleted": "已删除",
  "notify.when": "时间",
  "notify.plate": "车牌",
  "notify.state": "状态",
  "notify.attempts": "尝试次数",
  "notify.error": "最近错误",
  "notify.st.pending": "待发送",
  "notify.st.sent": "已发送",
  "notify.st.failed": "发送失败",
  "notify.st.cancelled": "已取消",
});
addMessages("en", {
  "admin.tab.notify": "Notifications",
  "notify.subs": "Subscriptions",
  "notify.log": "Send log",
  "notify.new": "New subscription",
  "notify.unit": "Unit (and below)",
  "notify.allUnits": "(every unit)",
  "notify.rules": "Rules",
  "notify.allRules": "all rules",
  "notify.rulesNote": "none ticked: every rule",
  "notify.channel": "Channel",
  "notify.ch.webhook": "Webhook (OA system)",
  "notify.ch.email": "E-mail",
  "notify.target": "Target",
  "notify.targetNote": "an http(s) URL for a webhook, one address for e-mail",
  "notify.secret": "Signing secret (optional, webhooks only; never shown again)",
  "notify.signed": "signed",
  "notify.label": "Label",
  "notify.delete": "Delete",
  "notify.confirmDelete": "Delete the subscription {target}? Notifications not yet sent are cancelled.",
  "notify.deleted": "Deleted",
  "notify.when": "Time",
  "notify.plate": "Plate",
  "notify.state": "State",
  "notify.attempts": "Attempts",
  "notify.error": "Last error",
  "notify.st.pending": "pending",
  "notify.st.sent": "sent",
  "notify.st.failed": "failed",
  "notify.st.cancelled": "cancelled",
});

const ruleName = (r) => t(`rule.${r}`);

export function notifyTab(pane, ctx) {
  const msg = el("p", { className: "msg", role: "alert" });
  const subs = el("div", { id: "notify-subs" });
  const log = el("div", { id: "notify-log" });
  pane.replaceChildren(
    el("div", { className: "toolbar" }, button("notify.new", "new", create, "primary")),
    msg,
    el("h3", {}, t("notify.subs")),
    subs,
    el("h3", {}, t("notify.log")),
    log,
  );

  async function reload() {
    msg.textContent = "";
    try {
      const [s, l] = await Promise.all([get("/api/v1/notify/subscriptions"), get("/api/v1/notify/log?limit=100")]);
      drawSubs(s.items);
      drawLog(l.items);
    } catch (e) {
      msg.textContent = errorText(e);
    }
  }

  function drawSubs(items) {
    subs.replaceChildren(
      table(
        ["notify.unit", "notify.rules", "notify.channel", "notify.target", "notify.label", "admin.actions"],
        items.map((x) => [
          x.unit_id ? x.unit : t("notify.allUnits"),
          x.rules.length ? x.rules.map(ruleName).join("、") : t("notify.allRules"),
          t(`notify.ch.${x.channel}`) + (x.signed ? ` (${t("notify.signed")})` : ""),
          x.target,
          x.label || "—",
          el("span", { className: "actions" }, button("notify.delete", "delete", () => remove(x))),
        ]),
        (i) => ({ dataset: { sub: String(items[i].id), channel: items[i].channel } }),
      ),
    );
  }

  function drawLog(items) {
    log.replaceChildren(
      table(
        ["notify.when", "notify.plate", "notify.rules", "notify.channel", "notify.target", "notify.state", "notify.attempts", "notify.error"],
        items.map((x) => [
          formatTime(x.done_at || x.created_at),
          x.plate || "—",
          ruleName(x.rule),
          t(`notify.ch.${x.channel}`),
          x.target,
          t(`notify.st.${x.state}`),
          String(x.attempts),
          x.last_error || "",
        ]),
        (i) => ({ dataset: { state: items[i].state, key: items[i].idempotency_key } }),
      ),
    );
  }

  function create() {
    const top = !ctx.user.unit_id && ctx.user.role === "admin" ? [{ value: 0, label: t("notify.allUnits") }] : [];
    const unit = select("unit_id", [...top, ...unitItems(ctx.units)], ctx.user.unit_id || 0);
    const channel = select("channel", ["webhook", "email"].map((c) => ({ value: c, label: t(`notify.ch.${c}`) })), "webhook");
    const target = el("input", { name: "target", required: true, maxLength: 500, autocomplete: "off" });
    const secret = el("input", { name: "secret", type: "password", autocomplete: "new-password", maxLength: 200 });
    const label = el("input", { name: "label", maxLength: 200 });
    const boxes = RULES.map((r) => el("input", { type: "checkbox", name: "rule", value: r }));
    const rules = el(
      "fieldset",
      { className: "notify-rules" },
      el("legend", {}, t("notify.rules")),
      ...RULES.map((r, i) => el("label", { className: "check" }, boxes[i], ruleName(r))),
      el("div", { className: "note" }, t("notify.rulesNote")),
    );
    const secretField = field("notify.secret", secret);
    channel.addEventListener("change", () => {
      secretField.hidden = channel.value !== "webhook";
    });
    openDialog(
      "notify.new",
      [field("notify.unit", unit), rules, field("notify.channel", channel), field("notify.target", target),
        el("div", { className: "note" }, t("notify.targetNote")), secretField, field("notify.label", label)],
      async () => {
        await post("/api/v1/notify/subscriptions", {
          unit_id: Number(unit.value),
          rules: boxes.filter((b) => b.checked).map((b) => b.value),
          channel: channel.value,
          target: target.value.trim(),
          secret: channel.value === "webhook" ? secret.value : "",
          label: label.value.trim(),
        });
        toast(t("admin.saved"));
        await reload();
      },
      "notify-dialog",
    );
  }

  async function remove(x) {
    if (!confirm(t("notify.confirmDelete", { target: x.target }))) return;
    try {
      await request("DELETE", `/api/v1/notify/subscriptions/${x.id}`);
      toast(t("notify.deleted"));
    } catch (e) {
      msg.textContent = errorText(e);
    }
    await reload();
  }

  reload();
}
