package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// doIn is c.do asking for language lang (Accept-Language).
func (c *client) doIn(lang, method, path, body string) (int, string) {
	c.f.t.Helper()
	req, err := http.NewRequest(method, c.f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		c.f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func errorMessage(body string) string {
	var e errorBody
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Message
}

// TestMessagesInChinese: a client asking for Chinese gets the server's
// refusals in Chinese (a weak password, a bad vehicle, a login lock-out,
// a CSV import's bad lines), one asking for nothing or English gets them
// in English as before, and the password rule is told in both.
func TestMessagesInChinese(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin := f.users["admin"]
	cases := []struct {
		method, path, body, zh, en string
	}{
		{"POST", "/api/v1/me/password", `{"current_password":"` + admin.password + `","new_password":"short"}`,
			"密码：至少 12 个字符", "password: want at least 12 characters"},
		{"POST", "/api/v1/me/password", `{"current_password":"wrong","new_password":"x"}`, "当前密码不正确", "the current password is wrong"},
		{"POST", "/api/v1/vehicles", `{"plate":"","unit_id":1}`, "车牌：应为 1 到 16 个字符", "plate: want 1 to 16 characters"},
		{"POST", "/api/v1/units/import", "path\n湖北省//黄石市\n", "未导入任何内容：第 2 行：“湖北省//黄石市”不是单位路径", "nothing imported: line 2:"},
		{"GET", "/api/v1/vehicles/999999", "", "未找到", "not found"},
	}
	for _, c := range cases {
		for _, lang := range []string{"zh-CN,zh;q=0.9,en;q=0.8", "", "en-US,en;q=0.9,zh-CN;q=0.8"} {
			body := c.body
			if strings.HasPrefix(c.path, "/api/v1/units/import") {
				// CSV, not JSON: sent by the fixture's client, with the header set below.
				continue
			}
			code, got := admin.doIn(lang, c.method, c.path, body)
			want := c.en
			if strings.HasPrefix(lang, "zh") {
				want = c.zh
			}
			if code < 400 || !strings.Contains(errorMessage(got), want) {
				t.Errorf("%s %s in %q: %d %s, want a message with %q", c.method, c.path, lang, code, got, want)
			}
		}
	}
	// A CSV import's lines, in Chinese.
	req, _ := http.NewRequest("POST", f.ts.URL+"/api/v1/units/import", strings.NewReader(cases[3].body))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Accept-Language", "zh-CN")
	req.Header.Set("X-CSRF-Token", admin.csrf)
	resp, err := admin.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if msg := errorMessage(string(b)); resp.StatusCode != 400 || !strings.Contains(msg, cases[3].zh) {
		t.Errorf("units import in Chinese: %d %s, want %q", resp.StatusCode, b, cases[3].zh)
	}

	// A lock-out, in Chinese.
	anon := f.newClient()
	var last string
	for range 3 {
		_, last = anon.doIn("zh-CN", "POST", "/api/v1/login", `{"name":"admin","password":"wrong"}`)
	}
	if msg := errorMessage(last); !strings.Contains(msg, "登录失败次数过多，请") && !strings.Contains(msg, "用户名或密码错误") {
		t.Errorf("failed logins in Chinese: %s", last)
	}
	if _, body := anon.doIn("zh-CN", "POST", "/api/v1/login", `{"name":"admin","password":"wrong"}`); !strings.Contains(errorMessage(body), "秒后再试") {
		t.Errorf("a throttled login in Chinese: %s", body)
	}

	// The password rule, public, in the language asked for.
	for lang, want := range map[string]string{"zh-CN": "至少 12 个字符", "en": "at least 12 characters"} {
		code, body := anon.doIn(lang, "GET", "/api/v1/password-policy", "")
		var p struct {
			MinLength int      `json:"min_length"`
			Rules     []string `json:"rules"`
		}
		if err := json.Unmarshal([]byte(body), &p); code != 200 || err != nil || p.MinLength != passwordMin ||
			len(p.Rules) == 0 || !strings.Contains(p.Rules[0], want) {
			t.Errorf("password policy in %s: %d %s", lang, code, body)
		}
	}
}

// TestAlertDetailsInChinese: the details the rules store in English have
// their Chinese beside them; a fence's name is kept as it is.
func TestAlertDetailsInChinese(t *testing.T) {
	for en, zh := range map[string]string{
		"limit 80 km/h":                    "限速 80 km/h",
		"check at 22:00":                   "检查时刻 22:00",
		"main power cut (alarm bit 8)":     "终端主电源断电（报警位 8）",
		"GNSS antenna short (alarm bit 6)": "GNSS 天线短路（报警位 6）",
		"某某大酒店 (hotel)":                    "某某大酒店（宾馆酒店）",
		"县委大院":                             "县委大院",
		"line 3: plate \"\": want 1 to 16 UTF-8 characters\nline 5: terminal 139 already on line 2": "第 3 行：车牌“”：应为 1 到 16 个字符\n第 5 行：终端 139 已在第 2 行出现",
	} {
		if got := zhMessage(en); got != zh {
			t.Errorf("zhMessage(%q) = %q, want %q", en, got, zh)
		}
	}
}
