package alerts

// The power-cut (断电) and antenna (天线断开/短路) rules read the alarm
// bits the terminal reports with every position: cutting a terminal's
// power or its GNSS antenna is the usual way to hide a car from the
// monitoring.

// Alarm bits these rules read, JT/T 808-2019 表24 (报警标志位定义).
// They are declared here because alerts must not import ingest.
const (
	alarmAntennaOpen  uint32 = 1 << 5 // GNSS 天线未接或被剪断
	alarmAntennaShort uint32 = 1 << 6 // GNSS 天线短路
	alarmPowerOff     uint32 = 1 << 8 // 终端主电源掉电
)

// AlarmState is what the power-cut and antenna rules remember: the
// episode open while the bit is set.
type AlarmState struct {
	Power   *Episode `json:"power,omitempty"`
	Antenna *Episode `json:"antenna,omitempty"`
}

// alarms runs the power-cut and antenna rules: an episode while the bit is
// set, from the first fix with it to the first fix without.
func (v *vehicle) alarms(f Fix) {
	one := func(slot **Episode, r RuleID, on bool, detail string) {
		if !v.enabled(r) {
			on = false
		}
		switch ep := *slot; {
		case on && ep == nil:
			ep = newEpisode(r, f, f.Time)
			ep.Detail = detail
			v.emit(ep, EpisodeOpen)
			*slot = ep
		case on:
			ep.MaxSpeedKmh = max(ep.MaxSpeedKmh, f.SpeedKmh)
		case ep != nil:
			v.closeEp(ep, f.Time, f)
			*slot = nil
		}
	}
	one(&v.st.Power, RulePowerCut, f.Alarm&alarmPowerOff != 0, "main power cut (alarm bit 8)")
	detail := "GNSS antenna cut (alarm bit 5)"
	if f.Alarm&alarmAntennaShort != 0 {
		detail = "GNSS antenna short (alarm bit 6)"
	}
	one(&v.st.Antenna, RuleAntenna, f.Alarm&(alarmAntennaOpen|alarmAntennaShort) != 0, detail)
}
