package api

// The Chinese of the trip requests' messages (用车申请、审批、派车), added
// to the catalogue in messages.go.
var tripZhRules = []zhRule{
	zh(`client_ref: want 1 to 64 characters, your own key for the request`, "申请编号（client_ref）：应为 1 到 64 个字符"),
	zh(`purpose: want 1 to 200 characters`, "用车事由：应为 1 到 200 个字符"),
	zh(`passengers: want 1 to 60`, "乘车人数：应为 1 到 60"),
	zh(`destination: at most 200 characters`, "目的地：最多 200 个字符"),
	zh(`destination: name it, choose a landmark or draw an area`, "目的地：请填写名称、选择地标或在地图上画出区域"),
	zh(`from, to: want from before to, at most 31 days apart`, "用车时间：开始应早于结束，最长 31 天"),
	zh(`dest_area: (.*)`, "目的地区域：{t1}"),
	zh(`unit_id: required`, "请选择单位"),
	zh(`dest_landmark_id: no such landmark in your jurisdiction`, "目的地地标不存在或不在您的管辖范围内"),
	zh(`you may not decide your own request`, "不能审批自己提交的用车申请"),
	zh(`the request is (\w+) already`, "该申请已{t1}"),
	zh(`the request is (\w+), not approved`, "该申请{t1}，尚未审批通过，不能派车"),
	zh(`pending`, "待审批"),
	zh(`approved`, "审批通过"),
	zh(`rejected`, "被驳回"),
	zh(`dispatched`, "已派车"),
	zh(`reason: a rejection needs one, at most 500 characters`, "理由：驳回须填写理由，最多 500 个字符"),
	zh(`status: want pending, approved, rejected or dispatched`, "状态：应为待审批、已通过、已驳回或已派车"),
	zh(`give vehicle_id, or rental_plate and rental_company for a rental car`, "请选择车辆；租用车辆请填写车牌和租车公司"),
	zh(`driver_id: required with vehicle_id`, "请选择驾驶员"),
	zh(`rental_plate \(at most 16 characters\) and rental_company \(at most 100\) are required for a rental car`, "租用车辆须填写车牌（最多 16 个字符）和租车公司（最多 100 个字符）"),
	zh(`driver_id: no such driver in your jurisdiction`, "驾驶员不存在或不在您的管辖范围内"),
	zh(`vehicle (.*) is dispatched already for an overlapping time \(approval (\d+)\)`, "车辆 {1} 在该时段已被派出（派车单 #{2}），不能重复派车"),
	zh(`vehicle (.*) is sealed during that time`, "车辆 {1} 在该时段处于封存状态，不能派车"),
	zh(`reason: the emergency's reason is required, at most 500 characters`, "紧急用车补录须填写原因，最多 500 个字符"),
	zh(`from: emergency use is recorded after it began; file a request for a trip to come`, "紧急用车在用车开始后补录；尚未开始的用车请提交用车申请"),
	zh(`unit_id and name \(at most 64 characters\) are required, phone at most 32`, "请填写单位和驾驶员姓名（最多 64 个字符），电话最多 32 个字符"),
}

func init() { zhRules = append(zhRules, tripZhRules...) }
