package notify

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrWebhookAddress refuses a webhook connection to an address webhooks
// may not reach.
var ErrWebhookAddress = errors.New("webhook address refused")

// A webhook's URL is written by a supervisor, but the request leaves from
// fleetd's host: without a limit, a URL such as http://127.0.0.1:8080/ or
// http://169.254.169.254/ makes fleetd call its own host's services or the
// cloud's metadata service on the supervisor's behalf, and the send log
// shows the start of the answer. So every connection a webhook opens is
// checked against the address it actually connects to, after the name is
// resolved (a name that resolves to a refused address is refused too, and
// so is a redirect to one).

// webhookAddrAllowed says whether a webhook may connect to a. With allow
// empty every address may be reached except loopback, link-local (the
// metadata services live there), unspecified and multicast ones; with
// allow set, only the addresses in it (never unspecified or multicast).
func webhookAddrAllowed(allow []netip.Prefix, a netip.Addr) error {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return fmt.Errorf("%w: not an IP address", ErrWebhookAddress)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("%w: %s is not a host", ErrWebhookAddress, a)
	case len(allow) > 0:
		for _, p := range allow {
			if p.Contains(a) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s is outside the networks webhooks may reach (fleetd --webhook-allow)", ErrWebhookAddress, a)
	case a.IsLoopback() || a.IsLinkLocalUnicast():
		return fmt.Errorf("%w: %s is fleetd's own host or a link-local service; list it in fleetd --webhook-allow if the receiver is there", ErrWebhookAddress, a)
	}
	return nil
}

// webhookClient is the HTTP client webhooks are sent with: every
// connection checked by webhookAddrAllowed, and no proxy from the
// environment, whose address would stand in for the receiver's.
func webhookClient(allow []netip.Prefix, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrWebhookAddress, address, err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrWebhookAddress, address, err)
		}
		return webhookAddrAllowed(allow, a)
	}}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = d.DialContext
	return &http.Client{Timeout: timeout, Transport: t}
}

// ParseWebhookAllow reads a comma-separated list of networks ("10.0.0.0/8")
// and addresses ("192.0.2.7") for Config.WebhookAllow.
func ParseWebhookAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q: want a network such as 10.0.0.0/8 or an address", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
