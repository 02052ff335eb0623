package api

import "time"

// An approval's standing: whether it is in effect now, and if not, why,
// so that a dispatcher sees at a glance that an order has lapsed or
// cannot be used rather than finding out from an alert.

// approvalReason is one reason an approval is not in effect.
type approvalReason struct {
	// Code is pending (未生效), expired (已过期) or vehicle_sealed
	// (车辆已封存).
	Code string `json:"code"`
	// Text says it in Chinese, then English.
	Text string `json:"text"`
}

// approvalStatus fills in a's standing as of now; sealed says the vehicle
// is sealed during some of [start, end).
func approvalStatus(a *approvalJSON, start, end time.Time, sealed bool, now time.Time) {
	a.Reasons = []approvalReason{}
	switch {
	case now.Before(start):
		a.Reasons = append(a.Reasons, approvalReason{"pending", "未生效：" + formatTime(start) + " 起生效 (not yet in effect)"})
	case !now.Before(end):
		a.Reasons = append(a.Reasons, approvalReason{"expired", "已过期：" + formatTime(end) + " 止 (expired)"})
	}
	if sealed {
		a.Reasons = append(a.Reasons, approvalReason{"vehicle_sealed", "车辆已封存：审批时段内车辆封存，封存车辆不得使用 (the vehicle is sealed during the approval)"})
	}
	a.InEffect = len(a.Reasons) == 0
	a.Status = "in_effect"
	a.StatusText = "生效中 (in effect)"
	if !a.InEffect {
		a.Status, a.StatusText = a.Reasons[0].Code, a.Reasons[0].Text
	}
}
