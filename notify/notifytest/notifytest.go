// Package notifytest gives notification tests real receivers: an SMTP
// server (Debian's python3-aiosmtpd, speaking STARTTLS with a certificate
// made for the test and keeping what it receives in a maildir) and a
// webhook receiver that records every request and can fail or stall the
// ones the test says. Without aiosmtpd a test fails under CI (CI=true) and
// is skipped on a developer machine, with a message saying how to install
// it (scripts/deps.sh mail).
package notifytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Python is Debian's interpreter, which has Debian's python3-aiosmtpd
// (a python3 earlier on PATH, from pyenv say, does not).
const Python = "/usr/bin/python3"

// SMTP is a running aiosmtpd.
type SMTP struct {
	// Addr is host:port.
	Addr string
	// TLS trusts the server's certificate: the client side of STARTTLS.
	TLS *tls.Config
	// CertFile is the certificate's PEM, for a client in another process.
	CertFile string
	dir      string
}

// StartSMTP starts an SMTP server that lives until the test ends. It
// requires STARTTLS before a message is accepted.
func StartSMTP(t testing.TB) *SMTP {
	t.Helper()
	if err := exec.Command(Python, "-c", "import aiosmtpd").Run(); err != nil {
		msg := "python3-aiosmtpd is not installed: run scripts/deps.sh mail"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	s := &SMTP{dir: filepath.Join(dir, "maildir"), CertFile: filepath.Join(dir, "cert.pem")}
	keyFile := filepath.Join(dir, "key.pem")
	s.TLS = selfSigned(t, s.CertFile, keyFile)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(Python, "-m", "aiosmtpd", "-n", "-l", s.Addr, "--tlscert", s.CertFile, "--tlskey", keyFile,
		"-c", "aiosmtpd.handlers.Mailbox", s.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aiosmtpd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	// Python starts slowly on a loaded machine: wait for the port.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-done:
			t.Fatalf("aiosmtpd exited: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd did not listen on %s: %s", s.Addr, out.String())
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a client configuration that trusts it.
func selfSigned(t testing.TB, certFile, keyFile string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notifytest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Mail is a message the server received, decoded.
type Mail struct {
	Header  mail.Header
	Subject string
	Body    string
	// Raw is the message as stored.
	Raw []byte
}

// Messages returns what the server has received so far.
func (s *SMTP) Messages(t testing.TB) []Mail {
	t.Helper()
	var list []Mail
	for _, sub := range []string{"new", "cur"} {
		files, err := os.ReadDir(filepath.Join(s.dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(filepath.Join(s.dir, sub, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, decode(t, raw))
		}
	}
	return list
}

func decode(t testing.TB, raw []byte) Mail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("stored message does not parse: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject %q: %v", m.Header.Get("Subject"), err)
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "base64") {
		if body, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), "")); err != nil {
			t.Fatalf("body: %v", err)
		}
	}
	return Mail{Header: m.Header, Subject: subject, Body: string(body), Raw: raw}
}

// Request is a request the webhook receiver got.
type Request struct {
	Key       string
	Signature string
	Body      []byte
}

// Webhook is an HTTP receiver recording every request. Answer, when set
// before the first request, chooses each request's status by its number
// (1-based); stall makes the receiver hold the request, after recording
// it, until Release.
type Webhook struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Request
	answer   func(n int) (status int, stall bool)
	stalled  chan struct{}
	release  chan struct{}
}

// StartWebhook starts a receiver answering each request as answer says
// (nil: 200 OK to all); it lives until the test ends.
func StartWebhook(t testing.TB, answer func(n int) (status int, stall bool)) *Webhook {
	w := &Webhook{answer: answer, stalled: make(chan struct{}, 16), release: make(chan struct{})}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(func() {
		w.Release()
		w.Server.Close()
	})
	return w
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.requests = append(w.requests, Request{Key: r.Header.Get("Idempotency-Key"),
		Signature: r.Header.Get("X-Fleetmon-Signature"), Body: body})
	n := len(w.requests)
	w.mu.Unlock()
	status, stall := http.StatusOK, false
	if w.answer != nil {
		status, stall = w.answer(n)
	}
	if stall {
		w.stalled <- struct{}{}
		select {
		case <-w.release:
		case <-r.Context().Done():
		}
	}
	rw.WriteHeader(status)
}

// Stalled is told of each request the receiver holds.
func (w *Webhook) Stalled() <-chan struct{} { return w.stalled }

// Release lets the held requests (and any later stall) go.
func (w *Webhook) Release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.release:
	default:
		close(w.release)
	}
}

// Requests returns the requests so far.
func (w *Webhook) Requests() []Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Request(nil), w.requests...)
}
