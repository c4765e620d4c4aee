package signing_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/invitesvc/invitesvc/internal/signing"
)

const subject = "members.acme.abc.added"

var data = []byte(`{"type":"membership.added"}`)

func generate(t testing.TB) *signing.Signer {
	t.Helper()
	s, err := signing.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVerify(t *testing.T) {
	s := generate(t)
	ring := signing.NewKeyring(s.Public())
	id, sig := s.Sign(subject, data)
	if id != s.KeyID() || len(id) != 16 {
		t.Fatalf("key id %q, signer's %q", id, s.KeyID())
	}
	if err := ring.Verify(subject, data, id, signing.DecodeSignature(signing.EncodeSignature(sig))); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	cases := []struct {
		name    string
		subject string
		data    []byte
		id      string
		sig     []byte
		want    error
	}{
		{"other subject", "members.acme.mallory.added", data, id, sig, signing.ErrBadSignature},
		{"altered data", subject, []byte(`{"type":"membership.removed"}`), id, sig, signing.ErrBadSignature},
		{"unsigned", subject, data, "", nil, signing.ErrUnsigned},
		{"wrong key", subject, data, generate(t).KeyID(), sig, signing.ErrUnknownKey},
		{"malformed signature", subject, data, id, signing.DecodeSignature("!!"), signing.ErrUnsigned},
	}
	for _, c := range cases {
		if err := ring.Verify(c.subject, c.data, c.id, c.sig); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Signed by another key that claims this key's id.
	_, forged := generate(t).Sign(subject, data)
	if err := ring.Verify(subject, data, id, forged); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("forged signature: %v", err)
	}
}

// TestRotation verifies events of the old key and of the new one with a
// keyring holding both, and only the new one's with a keyring of it alone.
func TestRotation(t *testing.T) {
	old, next := generate(t), generate(t)
	both := signing.NewKeyring(old.Public(), next.Public())
	for _, s := range []*signing.Signer{old, next} {
		id, sig := s.Sign(subject, data)
		if err := both.Verify(subject, data, id, sig); err != nil {
			t.Fatalf("key %s: %v", id, err)
		}
	}
	id, sig := old.Sign(subject, data)
	if err := signing.NewKeyring(next.Public()).Verify(subject, data, id, sig); !errors.Is(err, signing.ErrUnknownKey) {
		t.Fatalf("old key against the new keyring alone: %v", err)
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "signing")
	first, err := signing.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "signing.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("signing.key: %v, %v", info, err)
	}
	again, err := signing.LoadOrCreate(dir)
	if err != nil || again.KeyID() != first.KeyID() {
		t.Fatalf("reloaded key %v, %v; want %s", again, err, first.KeyID())
	}
	ring, err := signing.LoadKeyring(filepath.Join(dir, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	id, sig := again.Sign(subject, data)
	if err := ring.Verify(subject, data, id, sig); err != nil {
		t.Fatalf("verify with the saved public key: %v", err)
	}
	if _, err := signing.LoadSigner(filepath.Join(dir, "signing.pub")); err == nil {
		t.Fatal("a public key loaded as a private key")
	}
}

func BenchmarkSign(b *testing.B) {
	s := generate(b)
	for b.Loop() {
		s.Sign(subject, data)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := generate(b)
	ring := signing.NewKeyring(s.Public())
	id, sig := s.Sign(subject, data)
	for b.Loop() {
		if err := ring.Verify(subject, data, id, sig); err != nil {
			b.Fatal(err)
		}
	}
}
