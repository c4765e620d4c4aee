package tokenseal_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/tokenseal"
)

const token = "AbC-_0123456789abcdefghijklmnopqrstuvwxyzAB"

func TestSealAndOpen(t *testing.T) {
	dir := t.TempDir()
	mailer, err := tokenseal.LoadOrCreateIdentity(filepath.Join(dir, "delivery-identity"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "delivery-identity")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, %v", fi, err)
	}
	again, err := tokenseal.LoadOrCreateIdentity(filepath.Join(dir, "delivery-identity"))
	if err != nil || again.Recipient() != mailer.Recipient() || !strings.HasPrefix(mailer.Recipient(), "age1") {
		t.Fatalf("kept identity: %q, %q, %v", again.Recipient(), mailer.Recipient(), err)
	}
	// A downstream team's key, as age-keygen writes it, in a recipients file.
	team, _ := age.GenerateX25519Identity()
	teamFile := filepath.Join(dir, "team.txt")
	if err := os.WriteFile(teamFile, []byte("# the mail team\n"+team.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sealer, err := tokenseal.ParseRecipients(mailer.Recipient() + ", " + teamFile)
	if err != nil || len(sealer.Recipients()) != 2 {
		t.Fatalf("recipients %v, %v", sealer, err)
	}
	env := tokenseal.Envelope{InvitationID: "inv-1", Token: token, InviterName: "Grace Hopper"}
	sealed, err := sealer.Seal(env.InvitationID, env.Token, env.InviterName)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, token) || strings.Contains(sealed, "Grace") {
		t.Fatal("the sealed token shows what it seals")
	}
	for name, identity := range map[string]string{"mailer": filepath.Join(dir, "delivery-identity"), "team": writeIdentity(t, dir, team)} {
		o, err := tokenseal.LoadIdentity(identity)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := o.Open(sealed, "inv-1", domain.SHA256(token)); err != nil || got != env {
			t.Errorf("%s opens %+v, %v", name, got, err)
		}
	}
	// Another identity, another invitation, another token's hash, garbage.
	stranger, _ := age.GenerateX25519Identity()
	o, _ := tokenseal.LoadIdentity(writeIdentity(t, dir, stranger))
	if _, err := o.Open(sealed, "inv-1", domain.SHA256(token)); !errors.Is(err, tokenseal.ErrNotOpened) {
		t.Errorf("a stranger's identity: %v", err)
	}
	for _, tc := range []struct{ sealed, inv, hash string }{
		{sealed, "inv-2", domain.SHA256(token)},
		{sealed, "inv-1", domain.SHA256("other")},
		{"not base64!", "inv-1", domain.SHA256(token)},
		{"YWdl", "inv-1", domain.SHA256(token)},
	} {
		if _, err := mailer.Open(tc.sealed, tc.inv, tc.hash); !errors.Is(err, tokenseal.ErrNotOpened) {
			t.Errorf("opened %q for %s: %v", tc.sealed[:min(10, len(tc.sealed))], tc.inv, err)
		}
	}
}

func TestParseRecipientsRefuses(t *testing.T) {
	for _, bad := range []string{"", " , ", "age1notakey", filepath.Join(t.TempDir(), "missing")} {
		if _, err := tokenseal.ParseRecipients(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func writeIdentity(t *testing.T, dir string, id *age.X25519Identity) string {
	t.Helper()
	path := filepath.Join(dir, id.Recipient().String()[:12])
	if err := os.WriteFile(path, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
