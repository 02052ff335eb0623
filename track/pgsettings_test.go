package track

import "testing"

// TestSettingRules judges settings as pg_settings reports them (value and
// unit size in bytes): PostgreSQL's defaults are flagged, the private
// cluster's pass.
func TestSettingRules(t *testing.T) {
	rule := func(name string) settingRule {
		for _, r := range settingRules {
			if r.name == name {
				return r
			}
		}
		t.Fatalf("no rule for %s", name)
		return settingRule{}
	}
	cases := []struct {
		name, value string
		unit        float64
		ok          bool
	}{
		{"max_wal_size", "1024", 1 << 20, false}, // the default, 1GB
		{"max_wal_size", "8192", 1 << 20, true},  // the private cluster's
		{"checkpoint_timeout", "300", 1, false},
		{"checkpoint_timeout", "900", 1, true},
		{"shared_buffers", "16384", 8192, false}, // 128MB
		{"shared_buffers", "131072", 8192, true}, // 1GB
		{"synchronous_commit", "off", 1, false},
		{"synchronous_commit", "on", 1, true},
		{"synchronous_commit", "remote_apply", 1, true},
		{"fsync", "off", 1, false},
		{"full_page_writes", "on", 1, true},
	}
	for _, c := range cases {
		if got := rule(c.name).ok(c.value, c.unit); got != c.ok {
			t.Errorf("%s = %s: ok %v, want %v", c.name, c.value, got, c.ok)
		}
	}
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		if !rule(name).dura {
			t.Errorf("%s is not marked as durability", name)
		}
	}
}
