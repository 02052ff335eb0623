package api

import (
	"net/http"
	"strconv"
	"strings"

	"fleetmon/alerts"
	"fleetmon/notify"
)

// Notification subscriptions (package notify): who is told of which
// alerts, by webhook or e-mail, and the log of what was sent. Only
// administrators and supervisors see or change them, within their
// jurisdiction; a subscription for every unit (unit 0) is the top
// administrator's alone. Each change is audited with it.

func (s *Server) notifyRoutes(p routeRecorder) {
	p.HandleFunc("GET /api/v1/notify/subscriptions", s.listSubscriptions)
	p.HandleFunc("POST /api/v1/notify/subscriptions", s.createSubscription)
	p.HandleFunc("DELETE /api/v1/notify/subscriptions/{id}", s.deleteSubscription)
	p.HandleFunc("GET /api/v1/notify/log", s.notifyLog)
}

// The messages of the checks below, for people reading Chinese.
func init() {
	zhRules = append(zhRules,
		zh(`target "(.*)": want an http or https URL`, "目标“{1}”：应为 http 或 https 网址"),
		zh(`target "(.*)": want one e-mail address`, "目标“{1}”：应为一个电子邮件地址"),
		zh(`channel "(.*)": want webhook or email`, "通知方式“{1}”：应为 webhook 或 email"),
		zh(`rule "(.*)": no such rule`, "规则“{1}”不存在"),
		zh(`secret: only a webhook is signed`, "签名密钥：只有 webhook 才能签名"),
		zh(`label: at most (\d+) characters`, "备注：最多 {1} 个字符"),
		zh(`only an administrator at the top subscribes to every unit`, "仅限最上级单位的管理员订阅全部单位"),
	)
}

// notifyStaff refuses inspectors.
func (s *Server) notifyStaff(w http.ResponseWriter, r *http.Request) bool {
	return s.allow(w, r, RoleAdmin, RoleSupervisor)
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	if !s.notifyStaff(w, r) {
		return
	}
	subs, err := notify.NewStore(s.pool).Subscriptions(r.Context(), principal(r).Scope())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list(w, subs, len(subs), len(subs), 0)
}

// subscriptionRequest is the body of POST /api/v1/notify/subscriptions.
type subscriptionRequest struct {
	UnitID  int64    `json:"unit_id"`
	Rules   []string `json:"rules"`
	Channel string   `json:"channel"`
	Target  string   `json:"target"`
	Secret  string   `json:"secret"`
	Label   string   `json:"label"`
}

func (s *Server) createSubscription(w http.ResponseWriter, r *http.Request) {
	if !s.notifyStaff(w, r) {
		return
	}
	var req subscriptionRequest
	if !s.decode(w, r, &req) {
		return
	}
	p := principal(r)
	sub := notify.Subscription{UnitID: req.UnitID, Rules: req.Rules, Channel: notify.Channel(req.Channel),
		Target: strings.TrimSpace(req.Target), Secret: req.Secret, Label: strings.TrimSpace(req.Label), CreatedBy: p.ID}
	if err := sub.Check(func(rule string) bool { return alerts.RuleID(rule).Known() }); err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if sub.UnitID == 0 && (p.Role != RoleAdmin || p.UnitID != 0) {
		writeError(w, r, http.StatusForbidden, "forbidden", "only an administrator at the top subscribes to every unit")
		return
	}
	var created notify.Subscription
	err := s.change(r, func(c changeTx) (Entry, error) {
		if sub.UnitID != 0 {
			if _, err := c.store.UnitIn(r.Context(), p.Scope(), sub.UnitID); err != nil {
				return Entry{}, err
			}
		}
		var err error
		created, err = notify.NewStore(s.pool).InTx(c.tx).CreateSubscription(r.Context(), sub)
		return Entry{Action: "notify.subscription.create", SubjectUnitID: sub.UnitID, Detail: subscriptionDetail(created)}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

// subscriptionDetail is a subscription as its audit entries record it:
// never the secret, only whether there is one.
func subscriptionDetail(sub notify.Subscription) map[string]any {
	return map[string]any{"id": sub.ID, "unit_id": sub.UnitID, "rules": sub.Rules, "channel": sub.Channel,
		"target": sub.Target, "signed": sub.Signed, "label": sub.Label}
}

func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	if !s.notifyStaff(w, r) {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, r, http.StatusNotFound, "not_found", "not found")
		return
	}
	err = s.change(r, func(c changeTx) (Entry, error) {
		sub, err := notify.NewStore(s.pool).InTx(c.tx).DeleteSubscription(r.Context(), principal(r).Scope(), id)
		return Entry{Action: "notify.subscription.delete", SubjectUnitID: sub.UnitID, Detail: subscriptionDetail(sub)}, err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// notifyLog serves the newest notifications (?subscription= one
// subscription's; ?limit=, at most 500, default 100).
func (s *Server) notifyLog(w http.ResponseWriter, r *http.Request) {
	if !s.notifyStaff(w, r) {
		return
	}
	sub, ok := queryID(w, r, "subscription")
	if !ok {
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeError(w, r, http.StatusBadRequest, "bad_request", "limit: want 1 to 500")
			return
		}
		limit = n
	}
	entries, err := notify.NewStore(s.pool).Log(r.Context(), principal(r).Scope(), sub, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list(w, entries, len(entries), limit, 0)
}
