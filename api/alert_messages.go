package api

// The alert workbench's messages in Chinese, added to the catalogue in
// messages.go (kept beside the handlers that write them).
func init() {
	zhRules = append(zhRules,
		zh(`(\w+) is not allowed once an alert is (\w+)`, "告警当前为“{t2}”，不能{t1}"),
		zh(`the alert was retracted by a re-evaluation: there is nothing to verify`, "该告警已被重新研判撤销，无需核查"),
		zh(`request_explanation`, "要求说明"),
		zh(`explain`, "登记情况说明"),
		zh(`confirm`, "认定违规"),
		zh(`dismiss`, "排除"),
		zh(`open`, "待核查"),
		zh(`explanation_requested`, "待说明"),
		zh(`confirmed`, "已认定违规"),
		zh(`dismissed`, "已排除"),
		zh(`changed`, "已变更"),
		zh(`reason: required to confirm or dismiss an alert`, "原因：认定违规或排除告警须填写原因"),
		zh(`reason: at most (\d+) characters`, "原因：最多 {1} 个字符"),
		zh(`text: at most (\d+) characters`, "说明：最多 {1} 个字符"),
		zh(`text or file: an explanation needs one of them`, "情况说明须有文字或附件"),
		zh(`file: at most (\d+) MiB`, "附件：最大 {1} MiB"),
		zh(`file: the file is empty`, "附件：文件为空"),
		zh(`file: want a PDF, PNG or JPEG scan \(the content is (.*)\)`, "附件：只接受 PDF、PNG 或 JPEG 扫描件（该文件内容为 {1}）"),
		zh(`send the explanation as multipart/form-data with text and file`, "请以 multipart/form-data 格式提交说明文字和附件"),
		zh(`give the reason for exporting these alerts in \?reason=`, "请填写导出这些告警的原因"),
		zh(`give the reason for viewing these trips in \?reason=`, "请填写查看这些行程的原因"),
		zh(`more than (\d+) alerts: narrow the filters`, "告警超过 {1} 条，请缩小筛选范围"),
		zh(`format: want xlsx`, "格式：应为 xlsx"),
		zh(`verification: want open, explanation_requested, confirmed or dismissed`, "核查状态：应为待核查、待说明、已认定违规或已排除"),
	)
}
