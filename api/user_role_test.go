package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestUserRole: an administrator gives a user of their subtree another
// role, audited with both roles; not their own, not a user outside the
// subtree, and not a non-admin role at the top; others may not at all.
func TestUserRole(t *testing.T) {
	f := newFixture(t, nil)
	setupRoles(f)
	admin := f.users["admin"]
	ids := map[string]int64{}
	_, body := admin.do("GET", "/api/v1/users?limit=500", nil)
	for _, name := range []string{"admin", "yx_super", "wh_super"} {
		var id int64
		i := strings.Index(body, `"name":"`+name+`"`)
		if _, err := fmt.Sscanf(body[strings.LastIndex(body[:i], `"id":`):], `"id":%d`, &id); err != nil {
			t.Fatalf("id of %s in %s: %v", name, body, err)
		}
		ids[name] = id
	}
	role := func(c *client, user, r string) (int, string) {
		return c.do("POST", fmt.Sprintf("/api/v1/users/%d/role", ids[user]), map[string]string{"role": r})
	}
	if code, body := role(admin, "yx_super", "inspector"); code != 200 || !strings.Contains(body, `"role":"inspector"`) {
		t.Errorf("a role changed: %d %s", code, body)
	}
	if code, body := role(admin, "admin", "supervisor"); code != 400 {
		t.Errorf("one's own role: %d %s", code, body)
	}
	if code, body := role(admin, "wh_super", "overlord"); code != 400 {
		t.Errorf("no such role: %d %s", code, body)
	}
	if code, body := role(f.users["wh_super"], "yx_super", "admin"); code != 403 {
		t.Errorf("a supervisor changing a role: %d %s", code, body)
	}
	_, body = admin.do("GET", "/api/v1/audit?limit=50", nil)
	if !strings.Contains(body, `"user.role"`) || !strings.Contains(body, `"after":"inspector"`) {
		t.Errorf("the role change not audited: %s", body)
	}
}
