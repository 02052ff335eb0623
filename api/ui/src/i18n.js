// Messages in Chinese (zh-CN, the default) and English. The choice is kept
// in localStorage. Elements carrying data-i18n="key" (text) or
// data-i18n-placeholder / data-i18n-title are translated by apply(); pages
// listen for the "langchange" event to redraw what they render themselves.
// A page adds its own messages with addMessages().

const STORE = "fleetmon.lang";

const messages = {
  "zh-CN": {
    "app.title": "公务用车实时监控",
    "lang.switch": "English",
    "nav.live": "实时监控",
    "nav.replay": "轨迹回放",
    "nav.alerts": "告警",
    "nav.tips": "举报",
    "nav.dispatch": "派车核对",
    "nav.fuel": "加油卡核对",
    "nav.requests": "用车申请",
    "nav.audit": "审计",
    "nav.area": "区域查车",
    "nav.verify": "证据核验",
    "nav.geofences": "围栏与地标",
    "nav.reports": "报表",
    "nav.admin": "管理",
    "nav.password": "修改密码",
    "detail.alert": "详情",
    "logout": "退出",
    "search.plate": "搜索车牌，如 鄂B",
    "filter.unit": "全部单位",
    "filter.category": "全部类别",
    "filter.state": "全部状态",
    "list.count": "{shown} / {total} 辆",
    "list.more": "还有 {n} 辆，请缩小搜索范围",
    "state.moving": "行驶",
    "state.parked": "停车",
    "state.offline": "离线",
    "state.alarm": "报警",
    "state.sealed": "封存",
    "state.nodata": "无定位",
    "category.general": "一般公务用车",
    "category.confidential": "机要通信用车",
    "category.emergency": "应急保障用车",
    "category.enforcement": "执法执勤用车",
    "category.special": "特种专业技术用车",
    "detail.title": "车辆详情",
    "detail.plate": "车牌",
    "detail.unit": "单位",
    "detail.category": "类别",
    "detail.driver": "驾驶员",
    "detail.state": "状态",
    "detail.speed": "速度",
    "detail.acc": "ACC",
    "detail.lastReport": "最后上报",
    "detail.position": "位置",
    "detail.terminal": "终端",
    "detail.terminalStatus": "终端状态",
    "detail.follow": "跟随",
    "detail.unfollow": "取消跟随",
    "detail.close": "关闭",
    "detail.replay": "轨迹回放",
    "acc.on": "开",
    "acc.off": "关",
    "fix.yes": "已定位",
    "fix.no": "未定位",
    "term.online": "在线",
    "term.offline": "离线",
    "unknown": "未知",
    "alerts.title": "实时报警",
    "alerts.none": "暂无报警",
    "alerts.open": "进行中",
    "alerts.closed": "已结束",
    "sound.on": "声音：开",
    "sound.off": "声音：关",
    "sound.blocked": "点击页面以启用声音",
    "map.base": "底图",
    "map.none": "无底图（网格）",
    "map.tilesFailed": "底图无法加载，已显示坐标网格",
    "live.connecting": "正在连接…",
    "live.connected": "实时",
    "live.disconnected": "连接断开，正在重连…",
    "fence.title": "电子围栏",
    "fence.name": "名称",
    "fence.kind": "类型",
    "fence.category": "场所类别",
    "fence.width": "走廊宽度（米）",
    "fence.unit": "所属单位",
    "fence.save": "保存",
    "fence.cancel": "取消",
    "fence.saved": "围栏已保存",
    "fence.kind.permitted": "允许区域",
    "fence.kind.prohibited": "禁入区域",
    "fence.kind.sensitive": "敏感区域",
    "fence.kind.parking": "定点停放",
    "fence.kind.speed_zone": "限速区域",
    "place.hotel": "宾馆酒店",
    "place.golf": "高尔夫球场",
    "place.ktv_sauna": "KTV/洗浴",
    "place.scenic": "风景区",
    "place.residential": "住宅区",
    "error": "出错：{msg}",
    "dur.hm": "{h} 小时 {m} 分",
    "dur.m": "{m} 分",
  },
  en: {
    "app.title": "Official vehicles — live map",
    "lang.switch": "中文",
    "nav.live": "Live map",
    "nav.replay": "Replay",
    "nav.alerts": "Alerts",
    "nav.tips": "Tips",
    "nav.dispatch": "Dispatch check",
    "nav.fuel": "Fuel cards",
    "nav.requests": "Car requests",
    "nav.audit": "Audit",
    "nav.area": "Area search",
    "nav.verify": "Verify evidence",
    "nav.geofences": "Fences & landmarks",
    "nav.reports": "Reports",
    "nav.admin": "Administration",
    "nav.password": "Change password",
    "detail.alert": "Detail",
    "logout": "Log out",
    "search.plate": "Search plate, e.g. 鄂B",
    "filter.unit": "All units",
    "filter.category": "All categories",
    "filter.state": "All states",
    "list.count": "{shown} / {total} vehicles",
    "list.more": "{n} more: narrow the search",
    "state.moving": "Moving",
    "state.parked": "Parked",
    "state.offline": "Offline",
    "state.alarm": "Alarm",
    "state.sealed": "Sealed",
    "state.nodata": "No position",
    "category.general": "General",
    "category.confidential": "Confidential",
    "category.emergency": "Emergency",
    "category.enforcement": "Enforcement",
    "category.special": "Special",
    "detail.title": "Vehicle",
    "detail.plate": "Plate",
    "detail.unit": "Unit",
    "detail.category": "Category",
    "detail.driver": "Driver",
    "detail.state": "State",
    "detail.speed": "Speed",
    "detail.acc": "ACC",
    "detail.lastReport": "Last report",
    "detail.position": "Position",
    "detail.terminal": "Terminal",
    "detail.terminalStatus": "Terminal status",
    "detail.follow": "Follow",
    "detail.unfollow": "Stop following",
    "detail.close": "Close",
    "detail.replay": "Replay track",
    "acc.on": "on",
    "acc.off": "off",
    "fix.yes": "fixed",
    "fix.no": "no fix",
    "term.online": "online",
    "term.offline": "offline",
    "unknown": "unknown",
    "alerts.title": "Live alerts",
    "alerts.none": "No alerts",
    "alerts.open": "open",
    "alerts.closed": "closed",
    "sound.on": "Sound: on",
    "sound.off": "Sound: off",
    "sound.blocked": "Click the page to enable sound",
    "map.base": "Base map",
    "map.none": "No tiles (grid)",
    "map.tilesFailed": "Base map unreachable: showing the coordinate grid",
    "live.connecting": "Connecting…",
    "live.connected": "Live",
    "live.disconnected": "Disconnected, reconnecting…",
    "fence.title": "Geofence",
    "fence.name": "Name",
    "fence.kind": "Kind",
    "fence.category": "Place category",
    "fence.width": "Corridor width (m)",
    "fence.unit": "Owner unit",
    "fence.save": "Save",
    "fence.cancel": "Cancel",
    "fence.saved": "Geofence saved",
    "fence.kind.permitted": "Permitted area",
    "fence.kind.prohibited": "Prohibited area",
    "fence.kind.sensitive": "Sensitive place",
    "fence.kind.parking": "Designated parking",
    "fence.kind.speed_zone": "Speed zone",
    "place.hotel": "Hotel",
    "place.golf": "Golf course",
    "place.ktv_sauna": "KTV / sauna",
    "place.scenic": "Scenic area",
    "place.residential": "Residential",
    "error": "Error: {msg}",
    "dur.hm": "{h} h {m} min",
    "dur.m": "{m} min",
    // Rule names (Chinese comes from the server).
  },
};

const LANGS = ["zh-CN", "en"];
let current = LANGS.includes(localStorage.getItem(STORE)) ? localStorage.getItem(STORE) : "zh-CN";

export function lang() {
  return current;
}

export function addMessages(l, more) {
  Object.assign(messages[l], more);
}

// has says whether the current language has key.
export function has(key) {
  return key in messages[current];
}

// t translates key, filling {name} from vars; an unknown key shows itself.
export function t(key, vars) {
  const s = messages[current][key] ?? messages["zh-CN"][key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

export function apply(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function setLang(l) {
  if (!LANGS.includes(l)) return;
  current = l;
  localStorage.setItem(STORE, l);
  apply();
  document.dispatchEvent(new CustomEvent("langchange", { detail: l }));
}

// toggle switches between Chinese and English.
export function toggle() {
  setLang(current === "zh-CN" ? "en" : "zh-CN");
}
