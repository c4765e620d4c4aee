package testkit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPServer is a real SMTP server (emersion/go-smtp) in the test's
// process, on a free port, that keeps every email it accepts. It can be
// stopped and started again on the same address, and told to refuse
// recipients, to try a mailer's retries.
type SMTPServer struct {
	// Addr is where it listens; URL is an --smtp-url for it.
	Addr, URL string
	// RootCAs trusts its certificate, when it speaks TLS.
	RootCAs *x509.CertPool

	t    testing.TB
	opts SMTPOptions
	cert *tls.Certificate

	mu  sync.Mutex
	srv *smtp.Server
	// listener is closed by Stop itself: go-smtp's Close closes only the
	// listeners its Serve has registered, and Serve runs in a goroutine
	// that may not have yet.
	listener net.Listener
	received []Mail
	refuse   func(rcpt string) *smtp.SMTPError
	// attempts counts the RCPT commands, accepted or not.
	attempts int
	// delay is how long it takes to accept an email's data.
	delay time.Duration
}

// SMTPOptions choose how the server speaks: in clear, with STARTTLS, or
// with implicit TLS; with a user and password to authenticate (PLAIN),
// when set.
type SMTPOptions struct {
	TLS            string // "", "starttls" or "implicit"
	User, Password string
}

// Mail is one email the server accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// StartSMTP starts a server; it stops with the test.
func StartSMTP(t testing.TB, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s := &SMTPServer{t: t, opts: opts, Addr: FreeAddr(t)}
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	switch opts.TLS {
	case "":
		u.RawQuery = "tls=none"
	case "starttls":
	case "implicit":
		u.Scheme = "smtps"
	default:
		t.Fatalf("SMTPOptions.TLS %q", opts.TLS)
	}
	if opts.TLS != "" {
		s.cert, s.RootCAs = selfSigned(t)
	}
	if opts.User != "" {
		u.User = url.UserPassword(opts.User, opts.Password)
	}
	s.URL = u.String()
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start listens again on Addr after Stop.
func (s *SMTPServer) Start() {
	s.t.Helper()
	srv := smtp.NewServer(s)
	srv.Addr, srv.Domain = s.Addr, "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discardLog{}
	var l net.Listener
	var err error
	for range 50 { // the port may linger a moment after Stop
		if l, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("smtp server: %v", err)
	}
	if s.cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*s.cert}}
		if s.opts.TLS == "implicit" {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	}
	s.mu.Lock()
	s.srv, s.listener = srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Stop closes the listener and every connection: the server is down.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, l := s.srv, s.listener
	s.srv, s.listener = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close() // before the listener: Serve then knows it was told to stop
		_ = l.Close()
	}
}

// Refuse has every recipient for which f answers an error refused with it
// (4xx: temporary, 5xx: permanent); nil accepts them all again.
func (s *SMTPServer) Refuse(f func(rcpt string) *smtp.SMTPError) {
	s.mu.Lock()
	s.refuse = f
	s.mu.Unlock()
}

// Delay makes the server take d to accept each email's data: a client
// stopped meanwhile has sent it, without an answer.
func (s *SMTPServer) Delay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Attempts counts the recipients given to the server, accepted or refused.
func (s *SMTPServer) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Received are the emails accepted so far.
func (s *SMTPServer) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.received...)
}

// WaitFor waits until n emails were accepted, and returns them.
func (s *SMTPServer) WaitFor(n int, within time.Duration) []Mail {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := s.Received()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("smtp server: %d emails after %s, want %d", len(got), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{server: s, authed: s.opts.User == ""}, nil
}

type smtpSession struct {
	server *SMTPServer
	authed bool
	mail   Mail
}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

func (c *smtpSession) AuthMechanisms() []string {
	if c.server.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (c *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != c.server.opts.User || password != c.server.opts.Password {
			return errors.New("invalid credentials")
		}
		c.authed = true
		return nil
	}), nil
}

func (c *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !c.authed {
		return errAuthRequired
	}
	c.mail = Mail{From: from}
	return nil
}

func (c *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.server.mu.Lock()
	c.server.attempts++
	refuse := c.server.refuse
	c.server.mu.Unlock()
	if refuse != nil {
		if err := refuse(to); err != nil {
			return err
		}
	}
	c.mail.To = append(c.mail.To, to)
	return nil
}

func (c *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mail.Data = data
	c.server.mu.Lock()
	delay := c.server.delay
	c.server.mu.Unlock()
	time.Sleep(delay)
	c.server.mu.Lock()
	c.server.received = append(c.server.received, c.mail)
	c.server.mu.Unlock()
	return nil
}

func (c *smtpSession) Reset()        { c.mail = Mail{} }
func (c *smtpSession) Logout() error { return nil }

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

// ParsedMail is an email read as a mail client would: its headers, its
// subject decoded, and its plain-text and HTML parts decoded.
type ParsedMail struct {
	Header        mail.Header
	Subject       string
	Text, HTML    string
	TransferTypes []string // Content-Transfer-Encoding of each part
}

// ParseMail reads an email of multipart/alternative.
func ParseMail(t testing.TB, data []byte) ParsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read email: %v", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	p := ParsedMail{Header: m.Header, Subject: subject}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("content type %q (%v); want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	parts := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := parts.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		var body io.Reader = part
		cte := strings.ToLower(part.Header.Get("Content-Transfer-Encoding"))
		p.TransferTypes = append(p.TransferTypes, cte)
		if cte == "quoted-printable" {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t testing.TB) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
