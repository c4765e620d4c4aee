package keystore_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	. "github.com/invitesvc/invitesvc/transport/keystore"
)

// bucket is a key bucket on a fresh embedded server, and what opens it.
type bucket struct {
	t    testing.TB
	nats *testkit.NATS
	js   jetstream.JetStream
}

func newBucket(t testing.TB) *bucket {
	t.Helper()
	n := testkit.StartNATS(t, false)
	js, err := jetstream.New(n.Connect(t, eventstore.RoleService))
	if err != nil {
		t.Fatal(err)
	}
	if err := eventstore.Ensure(t.Context(), js, StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	return &bucket{t: t, nats: n, js: js}
}

func (b *bucket) open(current *KEK, previous ...*KEK) (*Store, error) {
	return Open(b.t.Context(), b.js, current, previous)
}

func (b *bucket) mustOpen(current *KEK, previous ...*KEK) *Store {
	b.t.Helper()
	s, err := b.open(current, previous...)
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// files is every byte the server keeps on disk, the bucket's stream first.
func (b *bucket) files() []byte {
	b.t.Helper()
	return b.nats.StoreFiles(b.t)
}

func newTestKEK(t testing.TB) *KEK {
	t.Helper()
	k, err := LoadKEK(testkit.KEKFile(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const org = "acme"

// invited is an invitation.created of email, decided and not sealed yet.
func invited(t *testing.T, s *Store, org, email string, generation int) domain.InvitationCreated {
	t.Helper()
	h, err := s.EmailHMAC(t.Context(), org, email)
	if err != nil {
		t.Fatal(err)
	}
	return domain.InvitationCreated{OrganizationID: org, InvitationID: "i1", Email: email, EmailHMAC: h,
		EmailSealed: &domain.Sealed{Generation: generation}, Role: domain.RoleMember, Actor: "admin"}
}

func sealed(t *testing.T, s *Store, p domain.Payload) domain.InvitationCreated {
	t.Helper()
	out, err := s.Seal(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return out.(domain.InvitationCreated)
}

func opened(t *testing.T, s *Store, p domain.Payload) domain.InvitationCreated {
	t.Helper()
	out, err := s.Open(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return out.(domain.InvitationCreated)
}

func TestSealAndOpen(t *testing.T) {
	b := newBucket(t)
	s := b.mustOpen(newTestKEK(t))
	p := sealed(t, s, invited(t, s, org, "ada@example.com", 1))
	if p.Email != "" || len(p.EmailSealed.Ciphertext) == 0 || bytes.Contains(p.EmailSealed.Ciphertext, []byte("ada")) {
		t.Fatalf("sealed: %+v", p)
	}
	data, err := domain.MarshalCloudEvent(domain.NewEvent("e1", time.Now(), p))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("ada")) {
		t.Fatalf("stored bytes hold the address: %s", data)
	}
	back, err := domain.UnmarshalCloudEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := opened(t, s, back.Data); got.Email != "ada@example.com" || got.EmailErased {
		t.Fatalf("opened: %+v", got)
	}
	// Another process with the same KEK opens it too: the keys are in the bucket.
	if got := opened(t, b.mustOpen(CurrentKEK(s)), back.Data); got.Email != "ada@example.com" {
		t.Fatalf("opened by another store: %+v", got)
	}
}

func TestSealedAddressCannotMove(t *testing.T) {
	b := newBucket(t)
	s := b.mustOpen(newTestKEK(t))
	p := sealed(t, s, invited(t, s, org, "ada@example.com", 1))
	bob := sealed(t, s, invited(t, s, org, "bob@example.com", 1))
	// Ada's ciphertext under bob's identifier (whose key exists), and as a membership's address.
	moved := bob
	moved.EmailSealed = p.EmailSealed
	if _, err := s.Open(t.Context(), moved); err == nil {
		t.Fatal("a ciphertext moved to another address opened")
	}
	member := domain.MembershipAdded{OrganizationID: org, UserID: "u", EmailHMAC: p.EmailHMAC, EmailSealed: p.EmailSealed}
	if _, err := s.Open(t.Context(), member); err == nil {
		t.Fatal("a ciphertext moved to another event type opened")
	}
}

func TestEmailHMAC(t *testing.T) {
	b := newBucket(t)
	s := b.mustOpen(newTestKEK(t))
	ctx := t.Context()
	a1, _ := s.EmailHMAC(ctx, org, "ada@example.com")
	a2, _ := b.mustOpen(CurrentKEK(s)).EmailHMAC(ctx, org, "ada@example.com")
	other, _ := s.EmailHMAC(ctx, "globex", "ada@example.com")
	if a1 != a2 || len(a1) != 64 {
		t.Fatalf("keyed identifiers %q and %q of one address in one organization", a1, a2)
	}
	if other == a1 {
		t.Fatal("two organizations share a keyed identifier of an address")
	}
	if a1 == domain.SHA256("ada@example.com") {
		t.Fatal("the keyed identifier is the plain SHA-256")
	}
}

// rawKey is the data key of an address's generation, as the bucket holds
// it: clear, and the bytes of its wrapping.
func rawKey(t *testing.T, s *Store, org, emailHMAC string, generation int) ([]byte, []byte) {
	t.Helper()
	key, w, err := DataKeyOf(t.Context(), s, org, emailHMAC, generation)
	if err != nil {
		t.Fatal(err)
	}
	return key, w
}

func TestShredErasesTheKeyFromDisk(t *testing.T) {
	b := newBucket(t)
	s := b.mustOpen(newTestKEK(t))
	ada := sealed(t, s, invited(t, s, org, "ada@example.com", 1))
	bob := sealed(t, s, invited(t, s, org, "bob@example.com", 1))
	key, wrappedKey := rawKey(t, s, org, ada.EmailHMAC, 1)
	files := b.files()
	if !bytes.Contains(files, []byte(base64.StdEncoding.EncodeToString(wrappedKey))) {
		t.Fatal("the wrapped key is not in the bucket's files before the erasure: the test looks in the wrong place")
	}

	deleted, err := s.Shred(t.Context(), org, ada.EmailHMAC, 1)
	if err != nil || !deleted {
		t.Fatalf("shred: %v, %v", deleted, err)
	}
	files = b.files()
	for _, secret := range [][]byte{key, []byte(hex.EncodeToString(key)), []byte(base64.StdEncoding.EncodeToString(wrappedKey)), wrappedKey} {
		if bytes.Contains(files, secret) {
			t.Fatalf("the erased key (%d bytes) is still in the server's files", len(secret))
		}
	}
	for _, st := range []*Store{s, b.mustOpen(CurrentKEK(s))} {
		if got := opened(t, st, ada); !got.EmailErased || got.Email != "" {
			t.Fatalf("erased address opened: %+v", got)
		}
		if got := opened(t, st, bob); got.Email != "bob@example.com" {
			t.Fatalf("another address lost: %+v", got)
		}
	}
	if deleted, err := s.Shred(t.Context(), org, ada.EmailHMAC, 1); err != nil || deleted {
		t.Fatalf("shred again: %v, %v; want nothing deleted", deleted, err)
	}
	// The erased generation seals nothing; the next has a new key.
	if _, err := s.Seal(t.Context(), invited(t, s, org, "ada@example.com", 1)); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("seal under an erased generation: %v; want a conflict", err)
	}
	again := sealed(t, s, invited(t, s, org, "ada@example.com", 2))
	if next, _ := rawKey(t, s, org, again.EmailHMAC, 2); bytes.Equal(next, key) {
		t.Fatal("the next generation has the erased key")
	}
	if got := opened(t, b.mustOpen(CurrentKEK(s)), again); got.Email != "ada@example.com" {
		t.Fatalf("next generation: %+v", got)
	}
}

// A command that decided on a slot read before an erasure may seal under
// the erased generation while the erasure runs: whatever the interleaving,
// once both are done no key of that generation is left in the bucket.
func TestShredRacingSeals(t *testing.T) {
	b := newBucket(t)
	stores := []*Store{b.mustOpen(newTestKEK(t))}
	for range 3 {
		stores = append(stores, b.mustOpen(CurrentKEK(stores[0])))
	}
	for round := range 5 {
		email := strings.Repeat("x", round+1) + "@example.com"
		p := invited(t, stores[0], org, email, 1)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				if i == 8 {
					if _, err := stores[i%4].Shred(context.Background(), org, p.EmailHMAC, 1); err != nil {
						t.Error(err)
					}
					return
				}
				if _, err := stores[i%4].Seal(context.Background(), p); err != nil && !errors.Is(err, domain.ErrConflict) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if _, _, err := DataKeyOf(t.Context(), stores[0], org, p.EmailHMAC, 1); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("round %d: the erased generation's key is in the bucket (%v)", round, err)
		}
	}
}

func TestUnknownKEKRefused(t *testing.T) {
	b := newBucket(t)
	first := newTestKEK(t)
	s := b.mustOpen(first)
	sealed(t, s, invited(t, s, org, "ada@example.com", 1))
	_, err := b.open(newTestKEK(t))
	if !errors.Is(err, ErrUnknownKEK) || !strings.Contains(err.Error(), first.ID()) || !strings.Contains(err.Error(), "--key-encryption-key-file") {
		t.Fatalf("open with another KEK: %v; want ErrUnknownKEK naming %s and the flag", err, first.ID())
	}
	// The refused open wrote nothing: the first KEK still opens alone.
	b.mustOpen(first)
}

func TestRotation(t *testing.T) {
	b := newBucket(t)
	old, next := newTestKEK(t), newTestKEK(t)
	s := b.mustOpen(old)
	ada := sealed(t, s, invited(t, s, org, "ada@example.com", 1))
	_, before := rawKey(t, s, org, ada.EmailHMAC, 1)

	rotated := b.mustOpen(next, old)
	if got := opened(t, rotated, ada); got.Email != "ada@example.com" {
		t.Fatalf("opened during the rotation: %+v", got)
	}
	n, err := rotated.Rewrap(t.Context())
	if err != nil || n != 2 { // acme's HMAC key and ada's data key
		t.Fatalf("rewrap: %d, %v; want 2", n, err)
	}
	if n, err := rotated.Rewrap(t.Context()); err != nil || n != 0 {
		t.Fatalf("rewrap again: %d, %v; want 0", n, err)
	}
	if _, err := b.open(old); !errors.Is(err, ErrUnknownKEK) {
		t.Fatalf("the old KEK alone after the rewrap: %v; want ErrUnknownKEK", err)
	}
	alone := b.mustOpen(next)
	if got := opened(t, alone, ada); got.Email != "ada@example.com" {
		t.Fatalf("opened with the new KEK alone: %+v", got)
	}
	if bytes.Contains(b.files(), []byte(base64.StdEncoding.EncodeToString(before))) {
		t.Fatal("the old wrapping is still in the bucket's files: a leaked old KEK would open it")
	}
}

func TestParseKEK(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KEKBytes)
	for _, text := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw) + "\n", base64.RawURLEncoding.EncodeToString(raw)} {
		k, err := ParseKEK([]byte(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if want, _ := NewKEK(raw); k.ID() != want.ID() {
			t.Fatalf("%q: id %s, want %s", text, k.ID(), want.ID())
		}
	}
	for _, text := range []string{"", "secret", hex.EncodeToString(raw[:16]), hex.EncodeToString(append(raw, 1))} {
		if _, err := ParseKEK([]byte(text)); err == nil {
			t.Fatalf("%q accepted as a KEK", text)
		}
	}
}

func TestLoadOrCreateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "key-encryption-key")
	k, err := LoadOrCreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("kept as %v, %v; want mode 0600", info, err)
	}
	again, err := LoadOrCreateKEK(path)
	if err != nil || again.ID() != k.ID() {
		t.Fatalf("read back %v, %v; want the same KEK", again, err)
	}
}
