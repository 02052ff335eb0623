package notify

import (
	"fmt"
	"strings"
	"time"

	"fleetmon/alerts"
)

// Payload is what a notification says about its alert, fixed when it is
// enqueued (the outbox's payload column), so that every attempt sends the
// same thing.
type Payload struct {
	EpisodeID   string     `json:"episode_id"`
	Rule        string     `json:"rule"`
	Status      string     `json:"status"`
	VehicleID   int64      `json:"vehicle_id"`
	Plate       string     `json:"plate"`
	UnitID      int64      `json:"unit_id"`
	Unit        string     `json:"unit"`
	Start       time.Time  `json:"start"`
	End         *time.Time `json:"end"`
	Detail      string     `json:"detail"`
	Lat         *float64   `json:"lat"`
	Lon         *float64   `json:"lon"`
	MaxSpeedKmh float64    `json:"max_speed_kmh"`
	DistanceM   float64    `json:"distance_m"`
}

// local is the time zone notifications are written in: the terminals'
// and the offices' (GMT+8).
var local = time.FixedZone("CST", 8*3600)

func ruleName(r string) string {
	if n := alerts.RuleID(r).Name(); n != "" {
		return n
	}
	return r
}

// subject is a notification's one-line title.
func (p *Payload) subject() string {
	return fmt.Sprintf("【公务用车告警】%s %s", p.Plate, ruleName(p.Rule))
}

// text is a notification's body, in zh-CN.
func (p *Payload) text() string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s：%s\n", k, v)
		}
	}
	line("告警", ruleName(p.Rule)+"（"+p.Rule+"）")
	line("车辆", p.Plate)
	line("单位", p.Unit)
	line("开始时间", p.Start.In(local).Format("2006-01-02 15:04:05"))
	if p.End != nil {
		line("结束时间", p.End.In(local).Format("2006-01-02 15:04:05"))
	} else {
		line("结束时间", "进行中")
	}
	line("详情", p.Detail)
	if p.Lat != nil && p.Lon != nil {
		line("位置", fmt.Sprintf("%.6f, %.6f", *p.Lat, *p.Lon))
	}
	if p.MaxSpeedKmh > 0 {
		line("最高速度", fmt.Sprintf("%.0f km/h", p.MaxSpeedKmh))
	}
	if p.DistanceM > 0 {
		line("里程", fmt.Sprintf("%.1f km", p.DistanceM/1000))
	}
	line("告警编号", p.EpisodeID)
	b.WriteString("\n此邮件由公务用车监管平台自动发送，请登录平台核实处理。\n")
	return b.String()
}
