package mailer_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/accepturl"
	"github.com/invitesvc/invitesvc/transport/mailer"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

// The mailer's own tests run it against a real SMTP server, with the
// invitations' side in memory (the service's tests run it whole).

// deliveries is the invitations' side: invitations by id, the outcomes
// recorded.
type deliveries struct {
	mu       sync.Mutex
	due      map[string]commands.Due
	recorded []commands.RecordDelivery
	dueCalls atomic.Int64
}

func (d *deliveries) Due(_ context.Context, _, id, eventID string) (commands.Due, error) {
	d.dueCalls.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	due := d.due[id]
	due.Send = due.Send && due.Invitation.DeliveryEventID == eventID
	for _, r := range d.recorded {
		if r.InvitationID == id && r.Report.EventID == eventID {
			due.Send = false
		}
	}
	return due, nil
}

func (d *deliveries) Record(_ context.Context, cmd commands.RecordDelivery) error {
	d.mu.Lock()
	d.recorded = append(d.recorded, cmd)
	d.mu.Unlock()
	return nil
}

func (d *deliveries) cancel(id string) {
	d.mu.Lock()
	due := d.due[id]
	due.Send = false
	d.due[id] = due
	d.mu.Unlock()
}

func (d *deliveries) records() []commands.RecordDelivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]commands.RecordDelivery(nil), d.recorded...)
}

type counts struct{ sent, failed, retried atomic.Int64 }

func (c *counts) Sent(time.Duration) { c.sent.Add(1) }
func (c *counts) Failed()            { c.failed.Add(1) }
func (c *counts) Retried()           { c.retried.Add(1) }

// world is a mailer with its invitations and identity.
type world struct {
	t      *testing.T
	d      *deliveries
	sealer *tokenseal.Sealer
	counts *counts
	m      *mailer.Mailer
}

var links, _ = accepturl.Parse("https://app.example.com/invite?token={token}")

func newWorld(t *testing.T, sender mailer.Sender) *world {
	t.Helper()
	id, err := tokenseal.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "identity"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := id.Sealer()
	tpl, err := mailer.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, d: &deliveries{due: map[string]commands.Due{}}, sealer: sealer, counts: &counts{}}
	w.m, err = mailer.New(mailer.Config{Deliveries: w.d, Opener: id, Sender: sender, Templates: tpl, AcceptURL: links,
		From: "Acme invitations <invitations@acme.test>", Observer: w.counts, Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		MaxAttempts: 3, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// invite makes invitation id of email due, and the event that asks for its email.
func (w *world) invite(id, email, orgName string) (domain.Delivered, string) {
	w.t.Helper()
	token := commands.NewToken()
	sealed, err := w.sealer.Seal(id, token, "Grace Hopper")
	if err != nil {
		w.t.Fatal(err)
	}
	eventID := "event-" + id
	inv := domain.Invitation{ID: id, OrganizationID: "acme", Email: email, Role: domain.RoleMember, TokenSHA256: domain.SHA256(token),
		ExpiresAt: time.Now().Add(72 * time.Hour), DeliveryStatus: domain.DeliveryQueued, DeliveryEventID: eventID, Version: 1}
	w.d.mu.Lock()
	w.d.due[id] = commands.Due{Invitation: inv, Organization: domain.Organization{ID: "acme", Name: orgName}, Send: true}
	w.d.mu.Unlock()
	e := domain.Delivered{Recorded: domain.Recorded{Event: domain.NewEvent(eventID, time.Now(), domain.InvitationCreated{
		OrganizationID: "acme", InvitationID: id, EmailHMAC: "h", EmailSealed: &domain.Sealed{Generation: 1, Ciphertext: []byte("c")},
		Role: domain.RoleMember, TokenSHA256: inv.TokenSHA256, TokenSealed: sealed, ExpiresAt: inv.ExpiresAt, Actor: "admin"})}}
	return e, token
}

func (w *world) handle(events ...domain.Delivered) error {
	ctx, cancel := context.WithTimeout(w.t.Context(), 30*time.Second)
	defer cancel()
	return w.m.Handle(ctx, events)
}

func smtpSender(t *testing.T, s *testkit.SMTPServer) *mailer.SMTP {
	t.Helper()
	sender, err := mailer.NewSMTP(s.URL, &tls.Config{RootCAs: s.RootCAs})
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

func TestEmailArrives(t *testing.T) {
	for _, mode := range []string{"", "starttls", "implicit"} {
		t.Run("tls="+mode, func(t *testing.T) {
			opts := testkit.SMTPOptions{TLS: mode}
			if mode != "" { // go-mail authenticates over TLS only
				opts.User, opts.Password = "mailer", "s3cret"
			}
			server := testkit.StartSMTP(t, opts)
			w := newWorld(t, smtpSender(t, server))
			e, token := w.invite("inv-1", "ada@example.com", "Acme Corp")
			if err := w.handle(e); err != nil {
				t.Fatal(err)
			}
			got := server.WaitFor(1, 5*time.Second)
			if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "ada@example.com" || got[0].From != "invitations@acme.test" {
				t.Fatalf("received %+v", got)
			}
			mail := testkit.ParseMail(t, got[0].Data)
			link := "https://app.example.com/invite?token=" + token
			if mail.Subject != "Grace Hopper invited you to join Acme Corp" || mail.Header.Get("To") != "<ada@example.com>" ||
				mail.Header.Get("Message-Id") != "<invitation.event-inv-1@acme.test>" ||
				!strings.Contains(mail.Text, link) || !strings.Contains(mail.HTML, `href="`+link+`"`) {
				t.Fatalf("email %+v", mail)
			}
			r := w.d.records()
			if len(r) != 1 || !r[0].Sent || r[0].Report.Attempts != 1 || r[0].Report.MessageID != "<invitation.event-inv-1@acme.test>" ||
				strings.Contains(r[0].Report.Reply, token) {
				t.Fatalf("recorded %+v", r)
			}
		})
	}
}

// An organization name with CRLF and markup adds no header and no markup.
func TestNoHeaderInjection(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	w := newWorld(t, smtpSender(t, server))
	e, _ := w.invite("inv-1", "ada@example.com", "Evil\r\nBcc: eve@example.com\r\nX-Evil: 1\r\n\r\n<b>bold</b> & <script>x()</script>")
	if err := w.handle(e); err != nil {
		t.Fatal(err)
	}
	got := server.WaitFor(1, 5*time.Second)
	mail := testkit.ParseMail(t, got[0].Data)
	if len(got[0].To) != 1 || mail.Header.Get("Bcc") != "" || mail.Header.Get("X-Evil") != "" {
		t.Fatalf("a header was injected: to %v, headers %v", got[0].To, mail.Header)
	}
	if !strings.Contains(mail.Subject, "Evil Bcc: eve@example.com X-Evil: 1 <b>bold</b>") {
		t.Errorf("subject %q", mail.Subject)
	}
	if strings.Contains(mail.HTML, "<b>bold</b>") || strings.Contains(mail.HTML, "<script>") || !strings.Contains(mail.HTML, "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;") {
		t.Errorf("html:\n%s", mail.HTML)
	}
}

func TestTemporaryFailuresAreRetried(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	w := newWorld(t, smtpSender(t, server))
	var refusals atomic.Int64
	server.Refuse(func(string) *smtp.SMTPError {
		if refusals.Add(1) <= 2 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
		return nil
	})
	e, _ := w.invite("inv-1", "ada@example.com", "Acme")
	if err := w.handle(e); err != nil {
		t.Fatal(err)
	}
	if got := server.Received(); len(got) != 1 {
		t.Fatalf("%d emails", len(got))
	}
	if r := w.d.records(); len(r) != 1 || !r[0].Sent || r[0].Report.Attempts != 3 || w.counts.retried.Load() != 2 {
		t.Fatalf("recorded %+v, retried %d", r, w.counts.retried.Load())
	}
}

// A permanent refusal is recorded at once, with the reply (the address
// scrubbed out of it), and never retried; temporary ones run out.
func TestFailures(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	w := newWorld(t, smtpSender(t, server))
	server.Refuse(func(rcpt string) *smtp.SMTPError {
		if strings.HasPrefix(rcpt, "gone") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + rcpt + ">: no such user"}
		}
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	})
	gone, _ := w.invite("inv-1", "gone@example.com", "Acme")
	full, _ := w.invite("inv-2", "full@example.com", "Acme")
	if err := w.handle(gone, full); err != nil {
		t.Fatal(err)
	}
	r := w.d.records()
	if len(r) != 2 {
		t.Fatalf("recorded %+v", r)
	}
	byID := map[string]commands.RecordDelivery{r[0].InvitationID: r[0], r[1].InvitationID: r[1]}
	if g := byID["inv-1"]; g.Sent || g.Report.Attempts != 1 || !strings.Contains(g.Report.Reply, "550") ||
		strings.Contains(g.Report.Reply, "gone@example.com") || !strings.Contains(g.Report.Reply, "<recipient>") {
		t.Errorf("permanent: %+v", g)
	}
	if f := byID["inv-2"]; f.Sent || f.Report.Attempts != 3 || !strings.Contains(f.Report.Reply, "452") {
		t.Errorf("temporary, out of attempts: %+v", f)
	}
	if n := server.Attempts(); n != 4 || w.counts.failed.Load() != 2 {
		t.Errorf("the server saw %d attempts, want 1 + 3; failed %d", n, w.counts.failed.Load())
	}
}

// The server down: the mailer waits for it, however long, and sends once
// it is back; an invitation cancelled meanwhile gets nothing.
func TestServerDownThenBack(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	w := newWorld(t, smtpSender(t, server))
	server.Stop()
	kept, _ := w.invite("inv-1", "ada@example.com", "Acme")
	dropped, _ := w.invite("inv-2", "bob@example.com", "Acme")
	done := make(chan error, 1)
	go func() { done <- w.handle(kept, dropped) }()
	deadline := time.Now().Add(10 * time.Second)
	for w.counts.retried.Load() < 6 { // beyond MaxAttempts: no reply is not a refusal
		if time.Now().After(deadline) {
			t.Fatalf("the mailer does not retry: %d retries, %d emails taken by a server meant to be down", w.counts.retried.Load(), len(server.Received()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.d.cancel("inv-2")
	server.Start()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := server.Received()
	if len(got) != 1 || got[0].To[0] != "ada@example.com" {
		t.Fatalf("received %+v", got)
	}
	if r := w.d.records(); len(r) != 1 || !r[0].Sent || r[0].InvitationID != "inv-1" {
		t.Fatalf("recorded %+v", r)
	}
}

func TestNotDueNothingSent(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	w := newWorld(t, smtpSender(t, server))
	e, _ := w.invite("inv-1", "ada@example.com", "Acme")
	w.d.cancel("inv-1")
	other := e
	other.ID = "event-of-an-old-token"
	if err := w.handle(e, other); err != nil {
		t.Fatal(err)
	}
	if len(server.Received()) != 0 || len(w.d.records()) != 0 {
		t.Fatalf("sent %d, recorded %+v", len(server.Received()), w.d.records())
	}
}

// A sealed token that does not open (sealed to another key, or moved to
// another invitation) is a permanent failure: recorded, not sent.
func TestTokenThatDoesNotOpen(t *testing.T) {
	server := testkit.StartSMTP(t, testkit.SMTPOptions{})
	w := newWorld(t, smtpSender(t, server))
	e, _ := w.invite("inv-1", "ada@example.com", "Acme")
	other, _ := w.invite("inv-2", "bob@example.com", "Acme")
	d := e.Event.Data.(domain.InvitationCreated)
	d.TokenSealed = other.Event.Data.(domain.InvitationCreated).TokenSealed
	e.Event.Data = d
	if err := w.handle(e); err != nil {
		t.Fatal(err)
	}
	if r := w.d.records(); len(server.Received()) != 0 || len(r) != 1 || r[0].Sent || !strings.Contains(r[0].Report.Reply, "does not open") {
		t.Fatalf("sent %d, recorded %+v", len(server.Received()), r)
	}
}

func TestOutbox(t *testing.T) {
	outbox, err := mailer.NewOutbox(filepath.Join(t.TempDir(), "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, outbox)
	e, token := w.invite("inv-1", "ada@example.com", "Acme")
	if err := w.handle(e); err != nil {
		t.Fatal(err)
	}
	path := outbox.Path("inv-1", e.ID)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mail := testkit.ParseMail(t, raw)
	// ASCII parts are 7bit: the link is in the file as it is.
	if !strings.Contains(string(raw), "https://app.example.com/invite?token="+token) || mail.Header.Get("To") != "<ada@example.com>" ||
		mail.TransferTypes[0] != "8bit" {
		t.Fatalf("outbox email:\n%s", raw)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if r := w.d.records(); len(r) != 1 || !r[0].Sent || !strings.Contains(r[0].Report.Reply, "outbox") {
		t.Fatalf("recorded %+v", r)
	}
	entries, _ := os.ReadDir(outbox.Dir())
	if len(entries) != 1 {
		t.Errorf("the outbox holds %d files", len(entries))
	}
}

func TestSMTPURLs(t *testing.T) {
	for _, good := range []string{"smtp://mail.example.com", "smtp://u:p@mail.example.com:2525?tls=opportunistic", "smtps://u:p@mail.example.com", "smtp://127.0.0.1:25?tls=none"} {
		if _, err := mailer.NewSMTP(good, nil); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"http://mail.example.com", "smtp://", "smtp://mail.example.com:99999", "smtp://mail.example.com?tls=maybe",
		"smtps://mail.example.com?tls=none", "smtp://mail.example.com/path", "smtp://mail.example.com?user=x"} {
		if _, err := mailer.NewSMTP(bad, nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	s, _ := mailer.NewSMTP("smtp://user:hunter2@mail.example.com", nil)
	if strings.Contains(s.String(), "hunter2") {
		t.Errorf("the password shows: %s", s)
	}
}

func TestMailerRefusesItsSettings(t *testing.T) {
	tpl, _ := mailer.LoadTemplates("")
	id, _ := tokenseal.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "identity"))
	base := mailer.Config{Deliveries: &deliveries{}, Opener: id, Sender: &mailer.Outbox{}, Templates: tpl, AcceptURL: links,
		From: "invitations@acme.test", Observer: &counts{}, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	noLinks, badFrom := base, base
	noLinks.AcceptURL = accepturl.Template{}
	badFrom.From = "not an address\r\nBcc: x"
	for name, cfg := range map[string]mailer.Config{"no accept URL": noLinks, "bad from": badFrom} {
		if _, err := mailer.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := mailer.New(base); err != nil {
		t.Error(err)
	}
}
