package notify

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"fleetmon/notify/notifytest"
)

// TestWebhookAddresses: by default a webhook reaches any host but fleetd's
// own (loopback) and link-local services such as the cloud's metadata
// service; an allow list admits exactly what it lists.
func TestWebhookAddresses(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		allow []netip.Prefix
		addr  string
		ok    bool
	}{
		{nil, "10.1.2.3", true},
		{nil, "203.0.113.9", true},
		{nil, "2001:db8::1", true},
		{nil, "127.0.0.1", false},
		{nil, "127.9.9.9", false},
		{nil, "::1", false},
		{nil, "::ffff:127.0.0.1", false},
		{nil, "169.254.169.254", false},
		{nil, "fe80::1", false},
		{nil, "0.0.0.0", false},
		{nil, "224.0.0.1", false},
		{lan, "10.20.3.4", true},
		{lan, "127.0.0.1", true},
		{lan, "::ffff:10.20.0.1", true},
		{lan, "10.21.0.1", false},
		{lan, "127.0.0.2", false},
		{lan, "0.0.0.0", false},
	} {
		err := webhookAddrAllowed(c.allow, netip.MustParseAddr(c.addr))
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrWebhookAddress)) {
			t.Errorf("allow %v, %s: %v, want allowed=%v", c.allow, c.addr, err, c.ok)
		}
	}
}

// TestWebhookRefusedBeforeConnecting: a webhook on fleetd's own host is
// refused under the default policy before a byte is sent, by name as well
// as by address, and reached once the operator allows it.
func TestWebhookRefusedBeforeConnecting(t *testing.T) {
	hook := notifytest.StartWebhook(t, nil)
	port := hook.URL[strings.LastIndex(hook.URL, ":"):]
	m := &message{key: "k1", target: hook.URL, payload: Payload{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, target := range []string{hook.URL, "http://localhost" + port} {
		m.target = target
		err := newWebhook(nil, 5*time.Second).send(ctx, m)
		if !errors.Is(err, ErrWebhookAddress) || !strings.Contains(err.Error(), "--webhook-allow") {
			t.Errorf("%s under the default policy: %v", target, err)
		}
	}
	if n := len(hook.Requests()); n != 0 {
		t.Fatalf("the refused webhook received %d requests", n)
	}
	m.target = hook.URL
	if err := newWebhook([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, 5*time.Second).send(ctx, m); err != nil {
		t.Fatalf("allowed webhook: %v", err)
	}
	if n := len(hook.Requests()); n != 1 {
		t.Errorf("the allowed webhook received %d requests, want 1", n)
	}
	if _, err := ParseWebhookAllow("10.0.0.0/8, 192.0.2.7,"); err != nil {
		t.Errorf("parse a good list: %v", err)
	}
	if _, err := ParseWebhookAllow("10.0.0.0/8,intranet"); err == nil || !strings.Contains(err.Error(), `"intranet"`) {
		t.Errorf("parse a bad list: %v", err)
	}
}
