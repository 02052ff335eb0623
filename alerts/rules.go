package alerts

// RuleID names a rule; it is stored with every episode.
type RuleID string

// The rules. Each has a file of its own holding its parameters, its part
// of VehicleState and its logic: rule_afterhours.go (after-hours and
// holiday use), rule_area.go, rule_places.go (prohibited entry and
// sensitive dwell), rule_parking.go, rule_sealed.go, rule_alarms.go (power
// cut and antenna), rule_silent.go and rule_speeding.go; drive.go is what
// the drive-judging rules hang on.
const (
	RuleAfterHours     RuleID = "after_hours"      // 非工作时间用车
	RuleHolidayUse     RuleID = "holiday_use"      // 节假日用车
	RuleOutOfArea      RuleID = "out_of_area"      // 越界
	RuleProhibited     RuleID = "prohibited_entry" // 禁入区域
	RuleSensitiveDwell RuleID = "sensitive_dwell"  // 敏感区域停留
	RuleNightParking   RuleID = "night_parking"    // 夜间未入库
	RuleSealedMove     RuleID = "sealed_move"      // 封存车辆移动
	RulePowerCut       RuleID = "power_cut"        // 断电
	RuleAntenna        RuleID = "antenna"          // 天线断开/短路
	RuleSilent         RuleID = "silent"           // 离线 while in use
	RuleSpeeding       RuleID = "speeding"         // 超速
)

// ruleNames are the names people know the rules by, as pages, exports and
// notifications show them (the web UI keeps the same in src/rules.js).
var ruleNames = map[RuleID]string{
	RuleAfterHours:     "非工作时间用车",
	RuleHolidayUse:     "节假日用车",
	RuleOutOfArea:      "越界",
	RuleProhibited:     "禁入区域",
	RuleSensitiveDwell: "敏感区域停留",
	RuleNightParking:   "夜间未入库",
	RuleSealedMove:     "封存车辆移动",
	RulePowerCut:       "断电",
	RuleAntenna:        "天线断开/短路",
	RuleSilent:         "离线",
	RuleSpeeding:       "超速",
}

// Name is the rule's Chinese name; "" for an id that is not a rule.
func (r RuleID) Name() string { return ruleNames[r] }

// Known says whether r is one of the engine's rules.
func (r RuleID) Known() bool { _, ok := ruleNames[r]; return ok }
