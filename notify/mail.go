package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// errNoSMTP fails e-mail notifications when fleetd has no mail server.
var errNoSMTP = errors.New("no SMTP server configured (serve --smtp-addr)")

// mailer sends notifications by e-mail through one SMTP server, upgrading
// the connection with STARTTLS whenever the server offers it.
type mailer struct {
	cfg     SMTPConfig
	timeout time.Duration
}

func (ml *mailer) send(ctx context.Context, m *message) error {
	if ml.cfg.Addr == "" {
		return errNoSMTP
	}
	from, err := mail.ParseAddress(ml.cfg.From)
	if err != nil {
		return fmt.Errorf("smtp from %q: %w", ml.cfg.From, err)
	}
	to, err := mail.ParseAddress(m.target)
	if err != nil {
		return fmt.Errorf("smtp recipient %q: %w", m.target, err)
	}
	msg := composeMail(from, to, m, time.Now())
	host, _, err := net.SplitHostPort(ml.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp address %q: %w", ml.cfg.Addr, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", ml.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	// The dialogue is bounded by the send's deadline, and cut short when
	// its context ends.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := ml.dialogue(c, host, from.Address, to.Address, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", ml.cfg.Addr, err)
	}
	return nil
}

// dialogue says hello, upgrades to TLS when offered, logs in when
// configured, and hands the message over.
func (ml *mailer) dialogue(c *smtp.Client, host, from, to string, msg []byte) error {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if ml.cfg.TLS != nil {
			cfg = ml.cfg.TLS.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if ml.cfg.Username != "" {
		// net/smtp's PLAIN refuses to send the password unencrypted
		// except to localhost.
		if err := c.Auth(smtp.PlainAuth("", ml.cfg.Username, ml.cfg.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// MessageID is the Message-ID of the e-mail of the notification with
// idempotency key key, sent from domain: the same for every attempt.
func MessageID(key, domain string) string {
	return "<" + key + "@" + domain + ">"
}

// senderName is the display name on the From line.
const senderName = "公务用车监管平台"

// composeMail writes the message: headers in ASCII (the subject and names
// as RFC 2047 encoded-words in UTF-8), a text/plain UTF-8 body in base64,
// lines ending CRLF.
func composeMail(from, to *mail.Address, m *message, now time.Time) []byte {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", (&mail.Address{Name: senderName, Address: from.Address}).String())
	h("To", to.String())
	h("Subject", mime.BEncoding.Encode("UTF-8", m.payload.subject()))
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", MessageID(m.key, domain))
	h("X-Fleetmon-Idempotency-Key", m.key)
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=UTF-8")
	h("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	body := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(m.payload.text(), "\n", "\r\n")))
	for len(body) > 76 {
		b.WriteString(body[:76] + "\r\n")
		body = body[76:]
	}
	b.WriteString(body + "\r\n")
	return b.Bytes()
}
