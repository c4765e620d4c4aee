package keystore

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
)

// The key store is a JetStream key-value bucket beside the INVITATIONS
// stream, with its replicas. It holds, each wrapped by the KEK (AES-256-GCM,
// its entry's name as associated data, so that a wrapping cannot be moved
// to another entry):
//
//	hmac.<org>                  the organization's HMAC key, for keyed identifiers
//	data.<org>.<hmac>.<gen>     the data key of an address (by its keyed identifier) and generation
//	erased.<org>.<hmac>         the last generation erased, in clear (no secret)
//	kek.<id>                    a value wrapped by the KEK <id>: it is in use
//
// Erasing deletes a data key's messages with JetStream's secure erase,
// which overwrites their bytes in the bucket's files; the bucket allows it
// (a key-value bucket made by nats.go denies message deletes).
const (
	Bucket = "INVITESVC_KEYS"
	// StreamName is the bucket's stream.
	StreamName = "KV_" + Bucket
	// Subjects are the bucket's, for permissions.
	Subjects = "$KV." + Bucket + ".>"
)

// maxHistory keeps a key's rewrapped values until the rewrap erases the one
// it replaced: values removed by the per-subject limit would stay in the
// files, unerased.
const maxHistory = 8

// StreamConfig is the bucket's stream as nats.go makes a key-value bucket,
// but for the secure erase it allows, the history rewraps need, reads from
// the leader only (no direct gets from followers, which may lag an erasure
// marker), and no purge (nor the roll-ups that need it): losing the keys
// loses every sealed address.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              StreamName,
		Description:       "Invitations service keys, wrapped: HMAC keys of organizations, data keys of email addresses",
		Subjects:          []string{Subjects},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardNew,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxConsumers:      -1,
		MaxMsgsPerSubject: maxHistory,
		Duplicates:        2 * time.Minute,
		DenyDelete:        false,
		DenyPurge:         true,
		AllowDirect:       false,
		Replicas:          replicas,
	}
}

// ErrUnknownKEK is a bucket holding keys wrapped by a KEK that is not
// configured: every address sealed under them would be unreadable.
var ErrUnknownKEK = errors.New("the key bucket holds keys wrapped by a key-encryption key that is not configured")

// Store seals and opens the email addresses of events, and erases them.
// It is safe for concurrent use.
type Store struct {
	kv       jetstream.KeyValue
	stream   jetstream.Stream
	current  *KEK
	keks     map[string]*KEK // by id: current and previous
	readOnly bool

	mu sync.Mutex
	// orgKeys are the organizations' HMAC keys: never erased.
	orgKeys map[string][]byte
	// dataKeys are data keys by name; nil for one erased.
	dataKeys *simplelru.LRU[string, *dataKey]
}

type dataKey struct{ aead cipher.AEAD }

// CacheSize is how many data keys a store keeps in memory, each about 1 KB.
const CacheSize = 50_000

// Option changes how Open makes a store.
type Option func(*Store)

// ReadOnly makes a store that opens addresses and creates no key: for the
// tools, which may read the bucket and write nothing.
func ReadOnly() Option { return func(s *Store) { s.readOnly = true } }

// Open binds to the bucket (which must exist: eventstore.Ensure with
// StreamConfig) with current,
// the KEK that wraps new keys, and previous ones that may still wrap some.
// It refuses a bucket that holds keys wrapped by any other KEK.
func Open(ctx context.Context, js jetstream.JetStream, current *KEK, previous []*KEK, opts ...Option) (*Store, error) {
	if current == nil {
		return nil, errors.New("key store: a key-encryption key is required")
	}
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("key bucket %s: %w", StreamName, err)
	}
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		return nil, fmt.Errorf("key bucket %s: %w", StreamName, err)
	}
	lru, _ := simplelru.NewLRU[string, *dataKey](CacheSize, nil)
	s := &Store{kv: kv, stream: stream, current: current, keks: map[string]*KEK{current.ID(): current},
		orgKeys: map[string][]byte{}, dataKeys: lru}
	for _, k := range previous {
		s.keks[k.ID()] = k
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.checkKEKs(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// wrapped is a key as the bucket holds it.
type wrapped struct {
	KEK string `json:"kek"`
	Key []byte `json:"key"`
}

func wrapAD(name string) []byte { return []byte("invitesvc key v1\x00" + name) }

func (s *Store) wrap(name string, key []byte) []byte {
	v, _ := json.Marshal(wrapped{KEK: s.current.ID(), Key: seal(s.current.aead, key, wrapAD(name))})
	return v
}

// unwrap opens the value of entry name, and says which KEK wrapped it.
func (s *Store) unwrap(name string, value []byte) ([]byte, string, error) {
	var w wrapped
	if err := json.Unmarshal(value, &w); err != nil {
		return nil, "", fmt.Errorf("key %s: %w", name, err)
	}
	k, ok := s.keks[w.KEK]
	if !ok {
		return nil, w.KEK, fmt.Errorf("%w: key %s is wrapped by key-encryption key %s", ErrUnknownKEK, name, w.KEK)
	}
	key, err := open(k.aead, w.Key, wrapAD(name))
	if err != nil {
		return nil, w.KEK, fmt.Errorf("key %s does not open with key-encryption key %s: %w", name, w.KEK, err)
	}
	return key, w.KEK, nil
}

func kekName(id string) string { return "kek." + id }

// checkKEKs refuses a bucket that holds a key wrapped by a KEK it was not
// given (each KEK that wraps keys leaves its kek.<id> entry), and marks the
// current one as in use.
func (s *Store) checkKEKs(ctx context.Context) error {
	names, err := s.subjects(ctx, "kek.*")
	if err != nil {
		return err
	}
	for _, name := range names {
		id := strings.TrimPrefix(name, "kek.")
		if _, ok := s.keks[id]; !ok {
			return fmt.Errorf("%w: %s wraps keys in %s, and the configured one is %s: without it no sealed address opens; "+
				"give it with --key-encryption-key-file (or --previous-key-encryption-key-file while rotating)",
				ErrUnknownKEK, id, StreamName, s.current.ID())
		}
		e, err := s.kv.Get(ctx, name)
		if err != nil {
			return fmt.Errorf("key bucket: %w", err)
		}
		if _, _, err := s.unwrap(name, e.Value()); err != nil {
			return err
		}
	}
	if s.readOnly || slices.Contains(names, kekName(s.current.ID())) {
		return nil
	}
	proof := make([]byte, 32)
	_, _ = rand.Read(proof)
	if _, err := s.kv.Create(ctx, kekName(s.current.ID()), s.wrap(kekName(s.current.ID()), proof)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("key bucket: %w", err)
	}
	return nil
}

// subjects lists the bucket's entry names matching filter (a key pattern).
func (s *Store) subjects(ctx context.Context, filter string) ([]string, error) {
	prefix := "$KV." + Bucket + "."
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+filter))
	if err != nil {
		return nil, fmt.Errorf("key bucket: %w", err)
	}
	names := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		names = append(names, strings.TrimPrefix(subject, prefix))
	}
	slices.Sort(names)
	return names, nil
}

// errErased is a data key that was erased.
var errErased = errors.New("data key erased")

func orgKeyName(org string) string { return "hmac." + org }

func dataKeyName(org, emailHMAC string, generation int) string {
	return "data." + org + "." + emailHMAC + "." + strconv.Itoa(generation)
}

func markerName(org, emailHMAC string) string { return "erased." + org + "." + emailHMAC }

// EmailHMAC is the keyed identifier of a normalized address in an
// organization: HMAC-SHA256 under the organization's key, in hex. It
// creates the key on first use.
func (s *Store) EmailHMAC(ctx context.Context, org, email string) (string, error) {
	key, err := s.orgKey(ctx, org, !s.readOnly)
	if err != nil {
		return "", err
	}
	if key == nil {
		return "", nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(email))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// orgKey is org's HMAC key, created if create says so; nil if absent.
func (s *Store) orgKey(ctx context.Context, org string, create bool) ([]byte, error) {
	s.mu.Lock()
	key, ok := s.orgKeys[org]
	s.mu.Unlock()
	if ok {
		return key, nil
	}
	key, err := s.getOrCreate(ctx, orgKeyName(org), create)
	if err != nil || key == nil {
		return nil, err
	}
	s.mu.Lock()
	s.orgKeys[org] = key
	s.mu.Unlock()
	return key, nil
}

// getOrCreate reads the key at name, or (create) draws and stores one;
// nil when absent and not created.
func (s *Store) getOrCreate(ctx context.Context, name string, create bool) ([]byte, error) {
	for {
		e, err := s.kv.Get(ctx, name)
		if err == nil {
			key, _, err := s.unwrap(name, e.Value())
			return key, err
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, unavailable(err)
		}
		if !create {
			return nil, nil
		}
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		_, err = s.kv.Create(ctx, name, s.wrap(name, key))
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, unavailable(err)
		}
		// Another writer created it first: read theirs.
	}
}

func unavailable(err error) error {
	return fmt.Errorf("%w: key store: %w", domain.ErrUnavailable, err)
}

// erasedUpTo is the last generation erased of an address, 0 for none.
func (s *Store) erasedUpTo(ctx context.Context, org, emailHMAC string) (int, error) {
	e, err := s.kv.Get(ctx, markerName(org, emailHMAC))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable(err)
	}
	return strconv.Atoi(string(e.Value()))
}

// dataKeyFor is the data key of an address's generation, created if
// create says so; errErased if it was erased (or, not created, is absent).
//
// An erasure marks the generation erased before it deletes its keys, and a
// key is created before the marker is read again: so a key created by a
// command that decided on a slot read before the erasure is either seen
// and deleted by the erasure, or sees the marker and deletes itself.
// Either way it seals nothing: the command's append fails on the slot the
// erasure moved, and it decides again, under the next generation.
func (s *Store) dataKeyFor(ctx context.Context, org, emailHMAC string, generation int, create bool) (*dataKey, error) {
	name := dataKeyName(org, emailHMAC, generation)
	s.mu.Lock()
	k, ok := s.dataKeys.Get(name)
	s.mu.Unlock()
	if ok {
		if k == nil {
			return nil, errErased
		}
		return k, nil
	}
	erased, err := s.erasedUpTo(ctx, org, emailHMAC)
	if err != nil {
		return nil, err
	}
	var key []byte
	if erased < generation {
		if key, err = s.getOrCreate(ctx, name, create && !s.readOnly); err != nil {
			return nil, err
		}
	}
	if key != nil && create {
		if erased, err = s.erasedUpTo(ctx, org, emailHMAC); err != nil {
			return nil, err
		}
		if erased >= generation {
			if _, err := s.erase(ctx, name); err != nil {
				return nil, err
			}
			key = nil
		}
	}
	if key == nil {
		s.mu.Lock()
		s.dataKeys.Add(name, nil)
		s.mu.Unlock()
		return nil, errErased
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	k = &dataKey{aead: aead}
	s.mu.Lock()
	s.dataKeys.Add(name, k)
	s.mu.Unlock()
	return k, nil
}

// emailAD binds a sealed address to its organization, keyed identifier,
// key generation and the event field it is in: a ciphertext moved
// anywhere else does not open.
func emailAD(org, emailHMAC string, generation int, eventType string) []byte {
	return []byte("invitesvc email v1\x00" + org + "\x00" + emailHMAC + "\x00" + strconv.Itoa(generation) + "\x00" + eventType + ".email")
}

// sealedEmail is where a payload keeps its address.
type sealedEmail struct {
	org, email, emailHMAC string
	sealed                *domain.Sealed
	erased                bool
}

func emailOf(p domain.Payload) (sealedEmail, bool) {
	switch d := p.(type) {
	case domain.InvitationCreated:
		return sealedEmail{d.OrganizationID, d.Email, d.EmailHMAC, d.EmailSealed, d.EmailErased}, true
	case domain.MembershipAdded:
		return sealedEmail{d.OrganizationID, d.Email, d.EmailHMAC, d.EmailSealed, d.EmailErased}, true
	}
	return sealedEmail{}, false
}

func withEmail(p domain.Payload, e sealedEmail) domain.Payload {
	switch d := p.(type) {
	case domain.InvitationCreated:
		d.Email, d.EmailHMAC, d.EmailSealed, d.EmailErased = e.email, e.emailHMAC, e.sealed, e.erased
		return d
	case domain.MembershipAdded:
		d.Email, d.EmailHMAC, d.EmailSealed, d.EmailErased = e.email, e.emailHMAC, e.sealed, e.erased
		return d
	}
	return p
}

// Seal encrypts the address of a payload decided to be sealed (its
// EmailSealed names the generation, without ciphertext) under that
// generation's data key, created on first use, and drops the clear
// address. A generation erased meanwhile is a conflict: the decision was
// made on a slot the erasure has since moved.
func (s *Store) Seal(ctx context.Context, p domain.Payload) (domain.Payload, error) {
	e, ok := emailOf(p)
	if !ok || e.sealed == nil || len(e.sealed.Ciphertext) > 0 {
		return p, nil
	}
	k, err := s.dataKeyFor(ctx, e.org, e.emailHMAC, e.sealed.Generation, true)
	if errors.Is(err, errErased) {
		return nil, fmt.Errorf("%w: the address's data key of generation %d was erased", domain.ErrConflict, e.sealed.Generation)
	}
	if err != nil {
		return nil, err
	}
	ct := seal(k.aead, []byte(e.email), emailAD(e.org, e.emailHMAC, e.sealed.Generation, p.EventType()))
	e.sealed, e.email = &domain.Sealed{Generation: e.sealed.Generation, Ciphertext: ct}, ""
	return withEmail(p, e), nil
}

// Open decrypts the address of a payload read from the stream: Email is
// set, or EmailErased when its data key was erased. An address of a
// revision 1 event (in clear) gets its keyed identifier, when the
// organization has an HMAC key (a read-only store creates none).
func (s *Store) Open(ctx context.Context, p domain.Payload) (domain.Payload, error) {
	e, ok := emailOf(p)
	if !ok {
		return p, nil
	}
	if e.sealed == nil {
		if e.emailHMAC != "" || e.email == "" {
			return p, nil
		}
		h, err := s.EmailHMAC(ctx, e.org, e.email)
		if err != nil {
			return nil, err
		}
		e.emailHMAC = h
		return withEmail(p, e), nil
	}
	if e.email != "" || e.erased || len(e.sealed.Ciphertext) == 0 {
		return p, nil // opened already, or not sealed yet
	}
	k, err := s.dataKeyFor(ctx, e.org, e.emailHMAC, e.sealed.Generation, false)
	if errors.Is(err, errErased) {
		e.erased = true
		return withEmail(p, e), nil
	}
	if err != nil {
		return nil, err
	}
	plain, err := open(k.aead, e.sealed.Ciphertext, emailAD(e.org, e.emailHMAC, e.sealed.Generation, p.EventType()))
	if err != nil {
		return nil, fmt.Errorf("open the address of a %s event in %s: %w", p.EventType(), e.org, err)
	}
	e.email = string(plain)
	return withEmail(p, e), nil
}

// Shred erases an address's data keys of generation and before: it marks
// them erased, then deletes each one's messages with the secure erase,
// which overwrites their bytes on disk. deleted says whether any key was
// still there. Shredding again deletes nothing.
func (s *Store) Shred(ctx context.Context, org, emailHMAC string, generation int) (deleted bool, err error) {
	if s.readOnly {
		return false, errors.New("key store: read-only")
	}
	if err := s.markErased(ctx, org, emailHMAC, generation); err != nil {
		return false, err
	}
	for g := 1; g <= generation; g++ {
		name := dataKeyName(org, emailHMAC, g)
		n, err := s.erase(ctx, name)
		if err != nil {
			return deleted, err
		}
		deleted = deleted || n > 0
		s.mu.Lock()
		s.dataKeys.Add(name, nil)
		s.mu.Unlock()
	}
	return deleted, nil
}

// Forget drops the cached data keys of an address up to generation: what
// a process does when it reads that another erased them.
func (s *Store) Forget(org, emailHMAC string, generation int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for g := 1; g <= generation; g++ {
		s.dataKeys.Add(dataKeyName(org, emailHMAC, g), nil)
	}
}

// markErased raises the address's erasure marker to generation.
func (s *Store) markErased(ctx context.Context, org, emailHMAC string, generation int) error {
	name := markerName(org, emailHMAC)
	value := []byte(strconv.Itoa(generation))
	for {
		e, err := s.kv.Get(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = s.kv.Create(ctx, name, value)
		case err != nil:
			return unavailable(err)
		default:
			if g, _ := strconv.Atoi(string(e.Value())); g >= generation {
				return nil
			}
			_, err = s.kv.Update(ctx, name, value, e.Revision())
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return unavailable(err)
		}
	}
}

// erase securely deletes every message of entry name, and says how many.
func (s *Store) erase(ctx context.Context, name string) (int, error) {
	subject := "$KV." + Bucket + "." + name
	n := 0
	for seq := uint64(1); ; {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, nil
		}
		if err != nil {
			return n, unavailable(err)
		}
		gone, err := s.secureDelete(ctx, m.Sequence)
		if err != nil {
			return n, unavailable(fmt.Errorf("erase %s: %w", name, err))
		}
		if gone {
			n++
		}
		seq = m.Sequence + 1
	}
}

// secureDelete erases the message at seq, and says whether it was this
// call that did: another process may have erased it first.
func (s *Store) secureDelete(ctx context.Context, seq uint64) (bool, error) {
	err := s.stream.SecureDeleteMsg(ctx, seq)
	if err == nil {
		return true, nil
	}
	// The server says "sequence not found" for a message erased meanwhile,
	// in an error that keeps only its text.
	if _, getErr := s.stream.GetMsg(ctx, seq); errors.Is(getErr, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return false, err
}

// Rewrap wraps again with the current KEK every key a previous one
// wrapped, erasing each old wrapping, then the previous KEKs' marks: from
// then on the bucket needs the current KEK alone. It answers how many
// keys it rewrapped.
func (s *Store) Rewrap(ctx context.Context) (int, error) {
	if s.readOnly {
		return 0, errors.New("key store: read-only")
	}
	names, err := s.subjects(ctx, ">")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		if strings.HasPrefix(name, "erased.") || strings.HasPrefix(name, "kek.") {
			continue
		}
		done, err := s.rewrap(ctx, name)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	for _, name := range names {
		if id := strings.TrimPrefix(name, "kek."); strings.HasPrefix(name, "kek.") && id != s.current.ID() {
			if _, err := s.erase(ctx, name); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// rewrap wraps entry name again with the current KEK if another wrapped it.
func (s *Store) rewrap(ctx context.Context, name string) (bool, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil // erased meanwhile
	}
	if err != nil {
		return false, unavailable(err)
	}
	key, kek, err := s.unwrap(name, e.Value())
	if err != nil {
		return false, err
	}
	if kek == s.current.ID() {
		return false, nil
	}
	if _, err := s.kv.Update(ctx, name, s.wrap(name, key), e.Revision()); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, nil // erased or rewrapped by another replica
		}
		return false, unavailable(err)
	}
	if _, err := s.secureDelete(ctx, e.Revision()); err != nil {
		return false, unavailable(err)
	}
	return true, nil
}
