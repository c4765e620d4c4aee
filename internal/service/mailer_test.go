package service_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

// The mailer, end to end: the service over real JetStream and a real read
// store, sending to a real SMTP server in the test's process.

const acceptTemplate = "https://app.example.com/invite?token={token}"

var acceptLink = regexp.MustCompile(`https://app\.example\.com/invite\?token=([A-Za-z0-9_-]{43})`)

// mailing configures a stack to deliver to server, with an identity of
// its own in the test's directory.
func mailing(t *testing.T, server *testkit.SMTPServer) func(*service.Config) {
	identity := filepath.Join(t.TempDir(), "delivery-identity")
	return func(c *service.Config) {
		c.AcceptURL, c.DeliveryIdentityFile, c.CreateDeliveryIdentity = acceptTemplate, identity, true
		c.SMTPURL, c.MailFrom, c.SMTPTLSConfig = server.URL, "Acme invitations <invitations@acme.test>", &tls.Config{RootCAs: server.RootCAs}
		c.MailRetryBackoff = 20 * time.Millisecond
	}
}

// namedAdmin is an admin of acme whose token has a name claim.
func (s *stack) namedAdmin(name string) string {
	s.t.Helper()
	tok, err := auth.Mint(secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "admin-2"}, Name: name,
		OrgPermissions: map[string][]string{"acme": {auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}}}, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// mailTo is the email server received for address, or fails.
func mailTo(t *testing.T, mails []testkit.Mail, address string) testkit.ParsedMail {
	t.Helper()
	var found []testkit.Mail
	for _, m := range mails {
		if len(m.To) == 1 && m.To[0] == address {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d emails to %s, want 1", len(found), address)
	}
	return testkit.ParseMail(t, found[0].Data)
}

func tokenOfLink(t *testing.T, text string) string {
	t.Helper()
	m := acceptLink.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no accept link in:\n%s", text)
	}
	return m[1]
}

// delivery is an invitation's delivery as the API shows it, once it has
// the status want.
func (s *stack) delivery(id, want string) map[string]any {
	s.t.Helper()
	var d map[string]any
	eventually(s.t, 10*time.Second, "delivery "+want+" of "+id, func() bool {
		d, _ = s.do("GET", api+"/acme/invitations/"+id, s.admin, nil).body["delivery"].(map[string]any)
		return d != nil && d["status"] == want
	})
	return d
}

func TestInvitationEmail(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		server := testkit.StartSMTP(t, testkit.SMTPOptions{TLS: "starttls", User: "invitesvc", Password: "s3cret"})
		s := newStack(mailing(t, server))
		expect(t, s.do("PUT", api+"/acme", s.admin, map[string]any{"name": "Acme <Corp> & Sons"}), http.StatusCreated)
		r := s.do("POST", api+"/acme/invitations", s.namedAdmin("Grace Hopper"), map[string]any{"emails": []string{"ada@example.com"}, "role": "admin"})
		expect(t, r, http.StatusCreated)
		inv := r.list("invitations")[0]
		id := inv["id"].(string)
		if inv["accept_url"] != "https://app.example.com/invite?token="+inv["token"].(string) {
			t.Fatalf("accept_url %v for token %v", inv["accept_url"], inv["token"])
		}
		mail := mailTo(t, server.WaitFor(1, 10*time.Second), "ada@example.com")
		if mail.Subject != "Grace Hopper invited you to join Acme <Corp> & Sons" || !strings.Contains(mail.Text, "as admin") ||
			!strings.Contains(mail.HTML, "<strong>Acme &lt;Corp&gt; &amp; Sons</strong>") || !strings.HasSuffix(mail.Header.Get("Message-Id"), "@acme.test>") {
			t.Fatalf("email %+v", mail)
		}
		token := tokenOfLink(t, mail.Text)
		if token != tokenOfLink(t, mail.HTML) || token != inv["token"] {
			t.Fatal("the email's links are not the invitation's")
		}
		d := s.delivery(id, "sent")
		if d["attempts"] != 1.0 || d["sent_at"] == nil {
			t.Fatalf("delivery %v", d)
		}
		events := s.do("GET", api+"/acme/invitations/"+id+"/events", s.admin, nil).list("events")
		last := events[len(events)-1]
		if last["type"] != "invitation.delivered" || last["data"].(map[string]any)["message_id"] != mail.Header.Get("Message-Id") {
			t.Fatalf("history %v", events)
		}
		raw, _ := json.Marshal(events)
		if strings.Contains(string(raw), token) || strings.Contains(string(raw), "Grace") {
			t.Fatalf("the history shows the token or the inviter's name: %s", raw)
		}
		// The link the email holds accepts the invitation.
		expect(t, s.do("POST", api+"/invitations/"+token+"/_accept", s.invitee("user-ada", "ada@example.com"), nil), http.StatusOK)
		if metrics := s.metrics(); !strings.Contains(metrics, "invitesvc_emails_sent_total 1") {
			t.Errorf("metrics:\n%s", grep(metrics, "invitesvc_email"))
		}
		// No name made of lines reaches an email: the name rule refuses it.
		expect(t, s.do("PUT", api+"/acme", s.admin, map[string]any{"name": "Acme\r\nBcc: eve@example.com"}), http.StatusBadRequest, "root.invalid_parameter")
	})
}

func grep(text, word string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

func TestBulkInvitationEmails(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	s := startStack(t, "", mailing(t, server))
	s.register("acme")
	emails := make([]string, 100)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%03d@example.com", i)
	}
	invs := s.invite(emails...)
	got := server.WaitFor(100, 60*time.Second)
	time.Sleep(500 * time.Millisecond) // any duplicate would have come by now
	got = server.Received()
	if len(got) != 100 {
		t.Fatalf("%d emails for 100 invitations", len(got))
	}
	for i, inv := range invs {
		mail := mailTo(t, got, emails[i])
		if tokenOfLink(t, mail.Text) != inv["token"] {
			t.Fatalf("%s got another invitation's link", emails[i])
		}
	}
	eventually(t, 10*time.Second, "100 emails recorded sent", func() bool {
		return strings.Contains(s.metrics(), "invitesvc_emails_sent_total 100")
	})
}

// The SMTP server down for a while, then back: every email arrives, once;
// an invitation cancelled meanwhile gets none, and says it was skipped.
func TestSMTPServerDownThenBack(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	s := startStack(t, "", mailing(t, server))
	s.register("acme")
	server.Stop()
	invs := s.invite("ada@example.com", "bob@example.com", "carol@example.com")
	cancelled := s.invite("dan@example.com")[0]["id"].(string)
	expect(t, s.do("DELETE", api+"/acme/invitations/"+cancelled, s.admin, nil), http.StatusNoContent)
	eventually(t, 10*time.Second, "the mailer retries", func() bool {
		return strings.Contains(s.metrics(), "invitesvc_email_retries_total") && !strings.Contains(s.metrics(), "invitesvc_email_retries_total 0")
	})
	time.Sleep(time.Second)
	server.Start()
	server.WaitFor(3, 30*time.Second)
	for _, inv := range invs {
		s.delivery(inv["id"].(string), "sent")
	}
	time.Sleep(500 * time.Millisecond)
	got := server.Received()
	if len(got) != 3 {
		t.Fatalf("%d emails, want 3", len(got))
	}
	for _, email := range []string{"ada@example.com", "bob@example.com", "carol@example.com"} {
		mailTo(t, got, email)
	}
	if d := s.delivery(cancelled, "skipped"); d["attempts"] != 0.0 {
		t.Fatalf("cancelled: %v", d)
	}
}

// A permanent refusal is recorded once, with the server's reply, and not
// retried; the other emails go out.
func TestPermanentRefusal(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	server.Refuse(func(rcpt string) *smtp.SMTPError {
		if rcpt == "gone@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<gone@example.com>: Recipient address rejected"}
		}
		return nil
	})
	s := startStack(t, "", mailing(t, server))
	s.register("acme")
	invs := s.invite("gone@example.com", "ada@example.com")
	d := s.delivery(invs[0]["id"].(string), "failed")
	if d["attempts"] != 1.0 || !strings.Contains(d["error"].(string), "550") || strings.Contains(d["error"].(string), "gone@example.com") {
		t.Fatalf("delivery %v", d)
	}
	s.delivery(invs[1]["id"].(string), "sent")
	time.Sleep(time.Second)
	if n := server.Attempts(); n != 2 {
		t.Fatalf("the server saw %d recipients, want 2: no retry of a permanent refusal", n)
	}
	if types := s.eventTypes(invs[0]["id"].(string)); types["invitation.delivery_failed"] != 1 || types["invitation.delivered"] != 0 {
		t.Fatalf("events %v", types)
	}
	if !strings.Contains(s.metrics(), "invitesvc_emails_failed_total 1") {
		t.Errorf("metrics:\n%s", grep(s.metrics(), "invitesvc_email"))
	}
}

// A resend emails the new link, which accepts; the old one is dead.
func TestResendEmailsTheNewLink(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	s := startStack(t, "", mailing(t, server))
	s.register("acme")
	id := s.invite("ada@example.com")[0]["id"].(string)
	first := tokenOfLink(t, testkit.ParseMail(t, server.WaitFor(1, 10*time.Second)[0].Data).Text)
	s.delivery(id, "sent")
	r := s.do("POST", api+"/acme/invitations/"+id+"/resend", s.admin, nil)
	expect(t, r, http.StatusOK)
	if r.str("accept_url") != "https://app.example.com/invite?token="+r.str("token") {
		t.Fatalf("resend answer %s", r.raw)
	}
	second := tokenOfLink(t, testkit.ParseMail(t, server.WaitFor(2, 10*time.Second)[1].Data).Text)
	if second == first || second != r.str("token") {
		t.Fatal("the second email does not hold the new token")
	}
	if d := s.delivery(id, "sent"); d["attempts"] != 1.0 {
		t.Fatalf("delivery %v", d)
	}
	expect(t, s.do("GET", api+"/invitations/"+first, "", nil), http.StatusNotFound)
	expect(t, s.do("POST", api+"/invitations/"+second+"/_accept", s.invitee("user-ada", "ada@example.com"), nil), http.StatusOK)
	if types := s.eventTypes(id); types["invitation.delivered"] != 2 {
		t.Fatalf("events %v", types)
	}
}

// "send_email": false sends nothing and seals nothing; a locale chooses the
// variant.
func TestSendEmailFalseAndLocale(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	s := startStack(t, "", mailing(t, server))
	s.register("acme")
	r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"quiet@example.com"}, "send_email": false})
	expect(t, r, http.StatusCreated)
	quiet := r.list("invitations")[0]
	if d := quiet["delivery"].(map[string]any); d["status"] != "skipped" || quiet["accept_url"] == nil {
		t.Fatalf("created %v", quiet)
	}
	r = s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"zoe@example.com"}, "locale": "fr-CA"})
	expect(t, r, http.StatusCreated)
	if r.list("invitations")[0]["locale"] != "fr-CA" {
		t.Fatalf("created %s", r.raw)
	}
	mail := mailTo(t, server.WaitFor(1, 10*time.Second), "zoe@example.com")
	if !strings.HasPrefix(mail.Subject, "Vous êtes invité à rejoindre") {
		t.Fatalf("subject %q", mail.Subject)
	}
	time.Sleep(500 * time.Millisecond)
	if got := server.Received(); len(got) != 1 {
		t.Fatalf("%d emails, want zoe's alone", len(got))
	}
	events := s.do("GET", api+"/acme/invitations/"+quiet["id"].(string)+"/events", s.admin, nil).list("events")
	if data := events[0]["data"].(map[string]any); data["skip_email"] != true || data["token_sealed"] != nil {
		t.Fatalf("created event %v", data)
	}
	expect(t, s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"x@example.com"}, "locale": "../../etc"}), http.StatusBadRequest, "root.invalid_parameter")
}

// A subscriber reading the stream, without the delivery identity, finds no
// token in any event: only sealed ones, which do not open with any other
// identity and which the mailer's opens.
func TestStreamReaderWithoutTheIdentity(t *testing.T) {
	n := testkit.StartNATS(t, true)
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	s := startStack(t, "", mailing(t, server), func(c *service.Config) {
		c.NATSURL, c.NATSNKeyFile = n.URL, n.Seed(eventstore.RoleService)
	})
	s.register("acme")
	invs := s.invite("ada@example.com", "bob@example.com", "carol@example.com")
	resent := s.do("POST", api+"/acme/invitations/"+invs[2]["id"].(string)+"/resend", s.admin, nil)
	expect(t, resent, http.StatusOK)
	tokens := map[string]bool{resent.str("token"): true}
	for _, inv := range invs {
		tokens[inv["token"].(string)] = true
		s.delivery(inv["id"].(string), "sent")
	}

	js, err := jetstream.New(n.Connect(t, eventstore.RoleSubscriber))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(t.Context(), eventstore.StreamName, jetstream.ConsumerConfig{Durable: "mailer",
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tokenseal.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "stranger"))
	if err != nil {
		t.Fatal(err)
	}
	mailerKey, err := tokenseal.LoadIdentity(s.cfg.DeliveryIdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	var events, sealed int
	for m := range batch.Messages() {
		events++
		_ = m.Ack()
		var e struct {
			Type string
			Data struct {
				InvitationID string `json:"invitation_id"`
				TokenSHA256  string `json:"token_sha256"`
				TokenSealed  string `json:"token_sealed"`
			}
		}
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			t.Fatal(err)
		}
		for tok := range tokens {
			if strings.Contains(string(m.Data()), tok) {
				t.Fatalf("a token in clear in %s", e.Type)
			}
		}
		if e.Type != "invitation.created" && e.Type != "invitation.resent" {
			continue
		}
		sealed++
		if _, err := stranger.Open(e.Data.TokenSealed, e.Data.InvitationID, e.Data.TokenSHA256); err == nil {
			t.Fatal("another identity opens a sealed token")
		}
		env, err := mailerKey.Open(e.Data.TokenSealed, e.Data.InvitationID, e.Data.TokenSHA256)
		if err != nil || !tokens[env.Token] {
			t.Fatalf("the mailer's identity does not open the sealed token of %s: %v", e.Type, err)
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		t.Fatal(err)
	}
	if sealed != 4 || events < 10 {
		t.Fatalf("read %d events, %d with a sealed token; want 4 of them", events, sealed)
	}
}

// Two replicas run the mailer on one stream: one sends at a time, and
// every email goes out once; when it stops, the other carries on.
func TestMailerOnTwoReplicas(t *testing.T) {
	ns := startNATS(t, t.TempDir(), -1)
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	key, kek := testkit.KeyFile(t), testkit.KEKFile(t)
	deliver := mailing(t, server) // one identity for both
	shared := func(c *service.Config) {
		c.NATSURL, c.SigningKey, c.KEKFile = ns.ClientURL(), key, kek
		deliver(c)
	}
	a := startStack(t, "", shared)
	b := startStack(t, "", shared)
	a.register("acme")
	var emails []string
	for i := range 20 {
		emails = append(emails, fmt.Sprintf("first%02d@example.com", i))
	}
	a.invite(emails[:10]...)
	b.invite(emails[10:]...)
	server.WaitFor(20, 30*time.Second)
	a.stop() // the other replica takes the pin over
	var later []string
	for i := range 10 {
		later = append(later, fmt.Sprintf("later%02d@example.com", i))
	}
	b.invite(later...)
	got := server.WaitFor(30, 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	if got = server.Received(); len(got) != 30 {
		t.Fatalf("%d emails for 30 invitations", len(got))
	}
	for _, email := range append(emails, later...) {
		mailTo(t, got, email)
	}
}

// Delivery settings that could not work are refused at start, by name.
func TestDeliverySettingsRefused(t *testing.T) {
	testkit.NeedsServers(t)
	other, err := tokenseal.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	identity := filepath.Join(t.TempDir(), "identity")
	for name, tc := range map[string]struct {
		set  func(*service.Config)
		want string
	}{
		"a mailer without links": {func(c *service.Config) { c.DeliveryIdentityFile, c.CreateDeliveryIdentity = identity, true }, "--accept-url"},
		"an identity the recipients lack": {func(c *service.Config) {
			c.DeliveryIdentityFile, c.CreateDeliveryIdentity, c.AcceptURL, c.DeliveryRecipients = identity, true, acceptTemplate, other.Recipient()
		}, "not among --delivery-recipient"},
		"a bad template":         {func(c *service.Config) { c.AcceptURL = "https://app.example.com/invite" }, "--accept-url"},
		"a missing identity":     {func(c *service.Config) { c.DeliveryIdentityFile = filepath.Join(t.TempDir(), "missing") }, "delivery identity"},
		"a bad recipient":        {func(c *service.Config) { c.DeliveryRecipients = "age1nope" }, "delivery recipient"},
		"SMTP without a From":    {func(c *service.Config) { mailingTo(c, identity, "smtp://127.0.0.1:1?tls=none", "") }, "--mail-from"},
		"a bad templates folder": {func(c *service.Config) { mailingTo(c, identity, "", ""); c.MailTemplates = identity + ".missing" }, "--mail-templates"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := service.Config{DataDir: t.TempDir(), JWTSecret: string(secret), Logger: slog.New(slog.DiscardHandler)}
			tc.set(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			svc, err := service.Start(ctx, cfg)
			if err == nil {
				svc.Close()
				t.Fatalf("started; want an error naming %s", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one naming %s", err, tc.want)
			}
		})
	}
}

func mailingTo(c *service.Config, identity, smtpURL, from string) {
	c.DeliveryIdentityFile, c.CreateDeliveryIdentity, c.AcceptURL, c.SMTPURL, c.MailFrom = identity, true, acceptTemplate, smtpURL, from
}
