// The rules: their ids in the order the engine runs them (alerts.RuleIDs on
// the server), and their names in both languages under "rule.<id>", for every
// page that lists, filters or names rules.
import { addMessages } from "./i18n.js";

const NAMES = {
  after_hours: ["非工作时间用车", "After-hours use"],
  holiday_use: ["节假日用车", "Holiday use"],
  out_of_area: ["越界", "Out of area"],
  prohibited_entry: ["禁入区域", "Prohibited area"],
  sensitive_dwell: ["敏感区域停留", "Sensitive place dwell"],
  night_parking: ["夜间未入库", "Not garaged at night"],
  sealed_move: ["封存车辆移动", "Sealed vehicle moving"],
  power_cut: ["断电", "Power cut"],
  antenna: ["天线断开/短路", "Antenna cut/short"],
  silent: ["离线", "Silent terminal"],
  speeding: ["超速", "Speeding"],
};

// RULE_IDS are the rule ids, in the engine's order.
export const RULE_IDS = Object.keys(NAMES);

const named = (i) => Object.fromEntries(RULE_IDS.map((id) => [`rule.${id}`, NAMES[id][i]]));
addMessages("zh-CN", named(0));
addMessages("en", named(1));
