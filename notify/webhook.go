package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"
)

// SignatureHeader carries a webhook's HMAC-SHA256 of the request body,
// keyed with the subscription's secret, as "sha256=<hex>".
const SignatureHeader = "X-Fleetmon-Signature"

// WebhookBody is the JSON a webhook receives.
type WebhookBody struct {
	// IdempotencyKey is also the Idempotency-Key header: the same for
	// every attempt at one notification.
	IdempotencyKey string  `json:"idempotency_key"`
	Title          string  `json:"title"`
	Text           string  `json:"text"`
	Alert          Payload `json:"alert"`
}

// webhook POSTs a notification's JSON to the subscription's URL.
type webhook struct{ client *http.Client }

func newWebhook(allow []netip.Prefix, timeout time.Duration) *webhook {
	return &webhook{client: webhookClient(allow, timeout)}
}

func (w *webhook) send(ctx context.Context, m *message) error {
	body, err := json.Marshal(WebhookBody{IdempotencyKey: m.key, Title: m.payload.subject(), Text: m.payload.text(),
		Alert: m.payload})
	if err != nil {
		return fmt.Errorf("encode webhook body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request to %s: %w", m.target, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Idempotency-Key", m.key)
	req.Header.Set("User-Agent", "fleetmon-notify")
	if m.secret != "" {
		req.Header.Set(SignatureHeader, Sign(m.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook POST: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook POST: %s: %q", resp.Status, snippet)
	}
	return nil
}

// Sign is the signature header's value for body under secret, for
// receivers to check against.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
