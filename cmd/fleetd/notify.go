package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"os"

	"fleetmon/notify"
)

// notifyFlags are serve's flags for outgoing notifications (package
// notify): the mail server e-mail subscriptions are sent through, and the
// networks webhooks may reach.
type notifyFlags struct {
	smtp         notify.SMTPConfig
	caPEM        string
	webhookAllow string
}

func (f *notifyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.smtp.Addr, "smtp-addr", envOr("FLEETMON_SMTP_ADDR", ""),
		"host:port of the mail server alert e-mails go through, STARTTLS when it offers it; empty: e-mail subscriptions wait (env FLEETMON_SMTP_ADDR)")
	fs.StringVar(&f.smtp.From, "smtp-from", envOr("FLEETMON_SMTP_FROM", ""), "the alert e-mails' sender address (env FLEETMON_SMTP_FROM)")
	fs.StringVar(&f.smtp.Username, "smtp-user", envOr("FLEETMON_SMTP_USER", ""),
		"log in to the mail server as this user, only over TLS; the password comes from env FLEETMON_SMTP_PASSWORD (env FLEETMON_SMTP_USER)")
	fs.StringVar(&f.caPEM, "smtp-ca", envOr("FLEETMON_SMTP_CA", ""),
		"PEM file of the CA certificates that sign the mail server's certificate (an intranet CA); default: the system's (env FLEETMON_SMTP_CA)")
	fs.StringVar(&f.webhookAllow, "webhook-allow", envOr("FLEETMON_WEBHOOK_ALLOW", ""),
		"comma-separated networks and addresses webhooks may connect to, such as 10.20.0.0/16,127.0.0.1; default: any but fleetd's own host (loopback), link-local and multicast (env FLEETMON_WEBHOOK_ALLOW)")
}

// config checks the flags and returns the notifier's configuration.
func (f *notifyFlags) config() (notify.Config, error) {
	c := notify.Config{SMTP: f.smtp}
	allow, err := notify.ParseWebhookAllow(f.webhookAllow)
	if err != nil {
		return c, usageError{"--webhook-allow " + err.Error()}
	}
	c.WebhookAllow = allow
	if f.smtp.Addr == "" {
		return c, nil
	}
	if _, _, err := net.SplitHostPort(f.smtp.Addr); err != nil {
		return c, usageError{fmt.Sprintf("--smtp-addr %q: want host:port", f.smtp.Addr)}
	}
	if a, err := mail.ParseAddress(f.smtp.From); err != nil || a.Address != f.smtp.From {
		return c, usageError{fmt.Sprintf("--smtp-from %q: want the sender's address, such as alerts@example.gov.cn", f.smtp.From)}
	}
	c.SMTP.Password = os.Getenv("FLEETMON_SMTP_PASSWORD")
	if f.caPEM != "" {
		pem, err := os.ReadFile(f.caPEM)
		if err != nil {
			return c, fmt.Errorf("--smtp-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return c, usageError{fmt.Sprintf("--smtp-ca %s: no PEM certificate in it", f.caPEM)}
		}
		c.SMTP.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}
