package api

// The fuel-card messages in Chinese, added to the catalogue in
// messages.go (kept beside the handlers that write them).
func init() {
	zhRules = append(zhRules,
		zh(`card "(.*)": want 4 to 32 letters or digits`, "卡号“{1}”：应为 4 到 32 位字母或数字"),
		zh(`card: want 4 to 32 letters or digits`, "卡号：应为 4 到 32 位字母或数字"),
		zh(`card (\w+) is bound to no vehicle of your units at that time`, "卡 {1} 在该时间未绑定到本单位（含下级）的车辆"),
		zh(`time: (.*)`, "时间：{t1}"),
		zh(`station: empty or not text`, "加油站：为空或含非法字符"),
		zh(`litres "(.*)": want a positive number`, "升数“{1}”：应为正数"),
		zh(`amount "(.*)": want a number of yuan`, "金额“{1}”：应为元数"),
		zh(`header: missing column (.*)`, "表头：缺少列 {1}"),
		zh(`the file holds no fill`, "文件中没有加油记录"),
		zh(`the file holds no station`, "文件中没有加油站"),
		zh(`the file is empty`, "文件为空"),
		zh(`the workbook cannot be read`, "无法读取该 Excel 文件"),
		zh(`the workbook's first sheet cannot be read`, "无法读取该 Excel 文件的第一个工作表"),
		zh(`name: empty or not text`, "名称：为空或含非法字符"),
		zh(`lat, lon: want WGS-84 degrees`, "纬度、经度：应为 WGS-84 度数"),
		zh(`station listed again \(line (\d+)\)`, "加油站重复（第 {1} 行）"),
		zh(`month: want YYYY-MM`, "月份：应为 YYYY-MM"),
		zh(`month: want YYYY-MM \(or from and to\)`, "月份：应为 YYYY-MM（或给出起止时间）"),
		zh(`from: want a time \(RFC 3339, or 2006-01-02 15:04 in Beijing time\)`, "起始时间：应为 RFC 3339 或北京时间 2006-01-02 15:04"),
		zh(`tank_l: want 0 to 2000 litres`, "油箱容量：应为 0 到 2000 升"),
		zh(`norm_l_100km: want 0 to 200`, "百公里油耗定额：应为 0 到 200 升"),
		zh(`kind: want away, no_track, unknown_station, over_tank, over_distance, holiday or after_hours`, "线索类别无效"),
		zh(`(\w+) is not allowed once a lead is (\w+)`, "线索当前为“{t2}”，不能{t1}"),
		zh(`reason: required to confirm or dismiss a lead`, "原因：认定违规或排除线索须填写原因"),
		zh(`more than (\d+) leads: narrow the filters`, "线索超过 {1} 条，请缩小筛选范围"),
		zh(`format: want json or xlsx`, "格式：应为 json 或 xlsx"),
	)
}
