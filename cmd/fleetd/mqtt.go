package main

import (
	"flag"
	"fmt"
	"time"

	"fleetmon/ingest"
)

// registerMQTT adds the MQTT subscriber's flags to fs.
func registerMQTT(fs *flag.FlagSet, c *ingest.MQTTConfig) {
	fs.StringVar(&c.Broker, "mqtt-broker", envOr("FLEETMON_MQTT_BROKER", ""),
		"MQTT broker URL to take positions from, e.g. tcp://127.0.0.1:1883; empty: no MQTT (env FLEETMON_MQTT_BROKER)")
	fs.StringVar(&c.ClientID, "mqtt-client-id", envOr("FLEETMON_MQTT_CLIENT_ID", "fleetd"),
		"client id of fleetd's persistent MQTT session; one per node (env FLEETMON_MQTT_CLIENT_ID)")
	fs.StringVar(&c.Username, "mqtt-username", envOr("FLEETMON_MQTT_USERNAME", ""), "MQTT user name (env FLEETMON_MQTT_USERNAME)")
	c.Password = envOr("FLEETMON_MQTT_PASSWORD", "") // a secret: environment only, never a flag (ps shows flags)
	fs.StringVar(&c.FrameTopic, "mqtt-frame-topic", envOr("FLEETMON_MQTT_FRAME_TOPIC", "fleetmon/jt808/+/up"),
		"topic filter carrying raw JT/T 808 frames; - for none (env FLEETMON_MQTT_FRAME_TOPIC)")
	fs.StringVar(&c.JSONTopic, "mqtt-json-topic", envOr("FLEETMON_MQTT_JSON_TOPIC", "fleetmon/positions/+"),
		"topic filter carrying JSON positions; - for none (env FLEETMON_MQTT_JSON_TOPIC)")
	fs.StringVar(&c.SharedGroup, "mqtt-shared-group", envOr("FLEETMON_MQTT_SHARED_GROUP", ""),
		"subscribe through $share/GROUP/... so that several nodes split the messages (env FLEETMON_MQTT_SHARED_GROUP)")
}

// registerDeviceTimes adds --max-clock-skew, which bounds the device times
// both the TCP gateway and the MQTT subscriber accept. An invalid
// FLEETMON_MAX_CLOCK_SKEW is a usage error.
func registerDeviceTimes(fs *flag.FlagSet, gw, mq *ingest.DeviceTimes) error {
	skew := skewFlag{&gw.MaxClockSkew, &mq.MaxClockSkew}
	if err := skew.Set(envOr("FLEETMON_MAX_CLOCK_SKEW", "10m")); err != nil {
		return usageError{"FLEETMON_MAX_CLOCK_SKEW: " + err.Error()}
	}
	fs.Var(skew, "max-clock-skew",
		"refuse reports dated further than this ahead of fleetd's clock (result 2 on TCP, parked on MQTT) (env FLEETMON_MAX_CLOCK_SKEW)")
	return nil
}

// skewFlag sets one duration in several configurations.
type skewFlag []*time.Duration

func (f skewFlag) String() string {
	if len(f) == 0 {
		return ""
	}
	return f[0].String()
}

func (f skewFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q: want a positive duration such as 10m", s)
	}
	for _, p := range f {
		*p = d
	}
	return nil
}
