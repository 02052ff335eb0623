package api

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"fleetmon/alerts"
)

// TestUIRulesMatchEngine: the web UI names, lists and offers the rules from
// src/rules.js; a rule missing there, or an id the engine does not know
// (the rule-parameter page once offered "prohibited" for prohibited_entry,
// which the server refused), breaks every page that lists rules.
func TestUIRulesMatchEngine(t *testing.T) {
	src, err := os.ReadFile("ui/src/rules.js")
	if err != nil {
		t.Fatal(err)
	}
	var ui []string
	for _, m := range regexp.MustCompile(`(?m)^  (\w+): \["([^"]+)", "[^"]+"\],$`).FindAllStringSubmatch(string(src), -1) {
		ui = append(ui, m[1])
		if zh := alerts.RuleID(m[1]).Name(); zh != m[2] {
			t.Errorf("rule %s: the UI calls it %q, the server %q", m[1], m[2], zh)
		}
	}
	var engine []string
	for _, r := range alerts.RuleIDs {
		engine = append(engine, string(r))
	}
	if !slices.Equal(ui, engine) {
		t.Errorf("src/rules.js lists %v, the engine runs %v", ui, engine)
	}
}
