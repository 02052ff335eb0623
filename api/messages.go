package api

import (
	"net/http"
	"regexp"
	"strings"
)

// Messages for people: the API writes its error messages in English, the
// language of its API and its logs, and a client that asks for Chinese
// (Accept-Language with zh first, as the web UI sends for its zh-CN pages)
// gets them in Chinese. The English texts stay where they are made; the
// catalogue below matches them, so a message added without a translation
// still reaches the user, in English. Alert details, which the rules store
// in English, are translated the same way (alertJSON.DetailZh).

// zhRule translates the messages re matches: zh with {1}, {2}, ... the
// groups as they are, or {t1}, {t2}, ... the groups translated in turn.
type zhRule struct {
	re *regexp.Regexp
	zh string
}

func zh(pattern, text string) zhRule { return zhRule{regexp.MustCompile("^" + pattern + "$"), text} }

// placeNames are the place categories of sensitive fences, as the web UI
// names them.
var placeNames = map[string]string{
	"hotel": "宾馆酒店", "golf": "高尔夫球场", "ktv_sauna": "KTV/洗浴", "scenic": "风景名胜区", "residential": "住宅小区",
}

var zhRules = []zhRule{
	// Lists of problems (a CSV import's lines) and their common prefixes.
	zh(`nothing imported: (.*)`, "未导入任何内容：{t1}"),
	zh(`line (\d+): (.*)`, "第 {1} 行：{t2}"),
	zh(`request body is not the JSON expected: (.*)`, "请求内容不是所需的 JSON：{1}"),

	// Logging in and passwords.
	zh(`wrong user name or password`, "用户名或密码错误"),
	zh(`too many failed logins: try again in (\d+) s`, "登录失败次数过多，请 {1} 秒后再试"),
	zh(`the current password is wrong`, "当前密码不正确"),
	zh(`password: must differ from the current one`, "密码：新密码不能与当前密码相同"),
	zh(`password: must not contain the user name`, "密码：不能包含用户名"),
	zh(`password: at most (\d+) characters`, "密码：最多 {1} 个字符"),
	zh(`password: want at least (\d+) characters, or at least (\d+) with three of lower case, upper case, digits and symbols`,
		"密码：至少 {1} 个字符，或至少 {2} 个字符并包含小写字母、大写字母、数字、符号中的三类"),
	zh(`the session has expired: log in again`, "会话已过期，请重新登录"),
	zh(`no such session: log in again`, "会话不存在，请重新登录"),
	zh(`log in first .*`, "请先登录"),
	zh(`invalid or revoked API token`, "API 令牌无效或已吊销"),
	zh(`this account has a one-time password: .*`, "此账号使用的是一次性密码，请先设置新密码"),
	zh(`send the session's csrf_token in the X-CSRF-Token header`, "请求缺少本次会话的安全令牌，请刷新页面后重试"),
	zh(`the server is checking too many passwords at once: try again in a moment`, "服务器正忙于校验密码，请稍后再试"),

	// Permissions and the common answers.
	zh(`your role may not do this`, "您的角色无权进行此操作"),
	zh(`for administrators only`, "仅限管理员"),
	zh(`only an administrator at the top (.*)`, "仅限最上级单位的管理员操作"),
	zh(`not found`, "未找到，或不在您的管辖范围内"),
	zh(`no such endpoint`, "没有此接口"),
	zh(`the change conflicts with existing data .*`, "与现有数据冲突（名称、车牌或终端已被占用，或单位移到了自己的下级）"),
	zh(`internal error; quote the request id`, "服务器内部错误，请向管理员提供请求编号"),
	zh(`request body too large`, "请求内容过大"),
	zh(`send the body as application/json`, "请以 application/json 格式发送"),
	zh(`(.*): not valid UTF-8 text, or holds a NUL character`, "{1}：不是有效的 UTF-8 文本，或含有 NUL 字符"),
	zh(`limit: want 1 to 500`, "每页条数：应为 1 到 500"),
	zh(`offset: want a number ≥ 0`, "偏移：应为不小于 0 的数"),
	zh(`the file could not be read`, "无法读取文件"),
	zh(`the body could not be read`, "无法读取请求内容"),

	// Units, users, vehicles, terminals.
	zh(`user name "(.*)": want 1 to 64 letters, digits or _.@-: .*`, "用户名“{1}”：应为 1 到 64 个字母、数字或 _.@-"),
	zh(`role "(.*)": want admin, supervisor, inspector or staff: .*`, "角色“{1}”：应为管理员、监管员、检查员或工作人员"),
	zh(`a (\w+) needs a unit: .*`, "除管理员外，用户必须属于某个单位"),
	zh(`role: you may not change your own role`, "角色：不能修改自己的角色"),
	zh(`unit name: want 1 to (\d+) characters`, "单位名称：应为 1 到 {1} 个字符"),
	zh(`plate: want 1 to 16 characters`, "车牌：应为 1 到 16 个字符"),
	zh(`plate and unit_id are required`, "请填写车牌和所属单位"),
	zh(`category: want general, confidential, emergency, enforcement or special`, "车辆类别：应为一般公务用车、机要通信用车、应急保障用车、执法执勤用车或特种专业技术用车"),
	zh(`sealed: want true or false`, "封存：应为 true 或 false"),
	zh(`phone "(.*)": want 1 to 20 digits`, "终端手机号“{1}”：应为 1 到 20 位数字"),
	zh(`phone "(.*)": want digits only`, "终端手机号“{1}”：只能包含数字"),
	zh(`terminal_phone: (.*)`, "终端手机号：{t1}"),
	zh(`plate "(.*)": want 1 to 16 UTF-8 characters`, "车牌“{1}”：应为 1 到 16 个字符"),
	zh(`plate_color "(.*)": want a JT/T 808 colour code .*`, "车牌颜色“{1}”：应为 JT/T 808 颜色代码 0–255（1 蓝、2 黄、3 黑、4 白、5 绿、9 其他）"),
	zh(`unit "(.*)": want a path of names such as (.*)`, "单位“{1}”：应为单位路径，如 {2}"),
	zh(`unit "(.*)": not in your jurisdiction, or no such unit`, "单位“{1}”：不存在，或不在您的管辖范围内"),
	zh(`category "(.*)": want .*`, "车辆类别“{1}”：应为一般公务用车、机要通信用车、应急保障用车、执法执勤用车或特种专业技术用车"),
	zh(`plate (.*) already on line (\d+)`, "车牌 {1} 已在第 {2} 行出现"),
	zh(`terminal (.*) already on line (\d+)`, "终端 {1} 已在第 {2} 行出现"),
	zh(`plate (.*): taken outside your jurisdiction`, "车牌 {1} 已被管辖范围外的车辆使用"),
	zh(`terminal (.*): taken outside your jurisdiction`, "终端 {1} 已绑定到管辖范围外的车辆"),
	zh(`conflicts with existing data`, "与现有数据冲突"),
	zh(`unbound: want true or false`, "未绑定：应为 true 或 false"),
	zh(`header lacks column "(.*)" \(want (.*)\)`, "表头缺少“{1}”列（应为 {2}）"),
	zh(`read header: (.*)`, "无法读取表头：{1}"),
	zh(`"(.*)" is not a path of unit names such as (.*)`, "“{1}”不是单位路径，应如 {2}"),
	zh(`the file holds no vehicle`, "文件中没有车辆"),

	// Work calendars and holiday files.
	zh(`event "(.*?)": (.*)`, "事件“{1}”：{t2}"),
	zh(`DTSTART missing`, "缺少开始日期（DTSTART）"),
	zh(`(DTSTART|DTEND|DURATION): (.*)`, "{1}：{t2}"),
	zh(`"(.*)" is not a date`, "“{1}”不是日期"),
	zh(`(\S+) is (\d\d:\d\d) in Beijing time, not midnight: a timed event, not a whole day`, "{1} 是北京时间 {2}，不是零点：这是有具体时刻的事件，不是全天事件"),
	zh(`time zone "(.*)" unknown`, "未知时区“{1}”"),
	zh(`"(.*)" is not a number of whole days`, "“{1}”不是整天数"),
	zh(`recurring events \((\w+)\) are not supported`, "不支持重复事件（{1}）"),
	zh(`empty SUMMARY`, "标题（SUMMARY）为空"),
	zh(`marked both a workday and a day off`, "同时标为上班和放假，无法判断"),
	zh(`says 调休 without saying .*`, "只写了“调休”，没有说明这天是上班（补班）还是放假：无法判断"),
	zh(`DTEND (\S+) not after DTSTART (\S+)`, "结束日期 {1} 不晚于开始日期 {2}"),
	zh(`(\d+) days long, more than 31`, "长达 {1} 天，超过 31 天"),
	zh(`make-up workday (\S+) is a (\w+), not a weekend day`, "补班日 {1} 是{t2}，不是周六或周日"),
	zh(`(\S+) is also in event "(.*)" \(line (\d+)\)`, "{1} 已在第 {3} 行的事件“{2}”中"),
	zh(`BEGIN:VEVENT without END:VEVENT`, "事件缺少 END:VEVENT"),
	zh(`END:VEVENT without BEGIN:VEVENT`, "END:VEVENT 之前没有 BEGIN:VEVENT"),
	zh(`no VEVENT: not a holiday calendar`, "文件中没有事件（VEVENT），不是节假日日历"),
	zh(`more than (\d+) problems: the rest not shown`, "问题超过 {1} 处，其余未列出"),
	zh(`not the holidays-cn.json shape: (.*)`, "不是 holidays-cn.json 格式：{1}"),
	zh(`bad year "(.*)"`, "年份“{1}”无效"),
	zh(`(\d+): holiday without a name`, "{1} 年：有节日没有名称"),
	zh(`(\d+): date (\S+) outside the year`, "{1} 年：日期 {2} 不在该年内"),
	zh(`(\d+): (\S+) named but not a make-up workday`, "{1} 年：{2} 有补班名称，但不是补班日"),
	zh(`(\S+) is both a holiday and a make-up workday`, "{1} 既是节假日又是补班日"),
	zh(`(\S+) listed twice`, "{1} 重复列出"),
	zh(`send the holidays-cn.json shape or an iCalendar file`, "请上传 holidays-cn.json 格式或 iCalendar（.ics）文件"),
	zh(`the file holds no day of (\d+)`, "文件中没有 {1} 年的日期"),
	zh(`year: want a year such as 2027`, "年份：应为 2027 这样的年份"),
	zh(`the default calendar cannot be cleared: edit it instead`, "默认日历不能清除，只能修改"),
	zh(`(.+): bad period (\S+)–(\S+)`, "{t1}：时段 {2}–{3} 无效（开始须早于结束，并在 00:00–24:00 之内）"),
	zh(`(.+): periods overlap or are out of order`, "{t1}：时段重叠或顺序颠倒"),
	zh(`time zone: (.*)`, "时区无效：{1}"),
	zh(`override (\S+): kind must be workday or holiday`, "特殊日 {1}：类型须为上班或放假"),
	zh(`override (\S+) given twice`, "特殊日 {1} 重复"),
	zh(`override (\S+)`, "特殊日 {1}"),
	zh(`make-up hours`, "补班日时段"),
	zh(`Sunday`, "周日"), zh(`Monday`, "周一"), zh(`Tuesday`, "周二"), zh(`Wednesday`, "周三"),
	zh(`Thursday`, "周四"), zh(`Friday`, "周五"), zh(`Saturday`, "周六"),

	// Trip approvals, their import and seals.
	zh(`want 6 fields vehicle_plate,driver,purpose,from,to,approver`, "应为 6 列：车牌、驾驶员、事由、开始时间、结束时间、审批人"),
	zh(`no vehicle "(.*)" in your jurisdiction`, "车辆“{1}”不存在，或不在您的管辖范围内"),
	zh(`"(.*)" is not a time such as (.*) or (.*)`, "“{1}”不是有效时间，应如 {2} 或 {3}"),
	zh(`from, to: want from before to, at most 366 days apart`, "开始、结束时间：开始须早于结束，且相隔不超过 366 天"),
	zh(`driver, purpose, approver: at most (\d+) characters`, "驾驶员、事由、审批人：最多 {1} 个字符"),
	zh(`fence_id: no such fence in your jurisdiction`, "围栏不存在，或不在您的管辖范围内"),
	zh(`bare " in non-quoted-field`, "未加引号的字段中出现了引号 \""),
	zh(`extraneous or missing " in quoted-field`, "加引号的字段中引号多余或缺失"),
	zh(`at: want RFC 3339 .*`, "时间：应如 2026-03-10 08:00（北京时间）"),
	zh(`reason: want at most (\d+) characters`, "原因：最多 {1} 个字符"),

	// Alert details, as the rules store them.
	zh(`limit (.*) km/h`, "限速 {1} km/h"),
	zh(`check at (\d\d:\d\d)`, "检查时刻 {1}"),
	zh(`main power cut \(alarm bit 8\)`, "终端主电源断电（报警位 8）"),
	zh(`GNSS antenna cut \(alarm bit 5\)`, "GNSS 天线未接或被剪断（报警位 5）"),
	zh(`GNSS antenna short \(alarm bit 6\)`, "GNSS 天线短路（报警位 6）"),

	// Statistics (stats.go).
	zh(`period: want YYYY-MM, YYYY-Qn or YYYY`, "统计周期：应为 YYYY-MM（月）、YYYY-Qn（季度）或 YYYY（年）"),
	zh(`by: want unit or vehicle`, "汇总方式：应为 unit（按单位）或 vehicle（按车辆）"),
	zh(`format: want json, xlsx or html`, "格式：应为 json、xlsx 或 html"),
	zh(`more than (\d+) vehicles: choose a unit`, "车辆超过 {1} 辆：请选择单位"),
}

var groupRef = regexp.MustCompile(`\{(t?)(\d)\}`)

// zhMessage is msg in Chinese, or msg itself when the catalogue has no
// translation for it.
func zhMessage(msg string) string {
	// Several problems, one a line or "; " apart: each is translated.
	for _, sep := range []string{"\n", "; "} {
		if strings.Contains(msg, sep) {
			parts := strings.Split(msg, sep)
			for i, p := range parts {
				parts[i] = zhMessage(p)
			}
			return strings.Join(parts, map[string]string{"\n": "\n", "; ": "；"}[sep])
		}
	}
	for _, rule := range zhRules {
		m := rule.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		return groupRef.ReplaceAllStringFunc(rule.zh, func(ref string) string {
			g := groupRef.FindStringSubmatch(ref)
			s := m[int(g[2][0]-'0')]
			if g[1] == "t" {
				return zhMessage(s)
			}
			return s
		})
	}
	// A sensitive place's fence: "name (category)".
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		if place, ok := placeNames[msg[i+2:len(msg)-1]]; ok {
			return msg[:i] + "（" + place + "）"
		}
	}
	return msg
}

// wantsChinese reports whether the client's first language is Chinese.
func wantsChinese(r *http.Request) bool {
	al := strings.TrimSpace(r.Header.Get("Accept-Language"))
	first, _, _ := strings.Cut(al, ",")
	first, _, _ = strings.Cut(first, ";")
	first = strings.ToLower(strings.TrimSpace(first))
	return first == "zh" || strings.HasPrefix(first, "zh-")
}

// forClient is msg in the client's language.
func forClient(r *http.Request, msg string) string {
	if r != nil && wantsChinese(r) {
		return zhMessage(msg)
	}
	return msg
}
