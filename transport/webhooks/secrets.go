package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
)

// secretsStream is the secrets bucket's stream.
const secretsStream = "KV_" + eventstore.WebhookSecretsBucket

// secretsConfig is the secrets bucket's stream as nats.go makes a bucket,
// but for the secure erase it allows (a bucket made by nats.go denies
// message deletes) and no purge. One value per secret, written once and
// rewritten only by Rewrap, which keeps two for a moment: the old wrapping
// must be erased securely, not dropped by the history limit, which leaves
// its bytes on disk.
func secretsConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              secretsStream,
		Description:       "Invitations service webhook signing secrets, wrapped by the key-encryption key",
		Subjects:          []string{"$KV." + eventstore.WebhookSecretsBucket + ".>"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardNew,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxConsumers:      -1,
		MaxMsgsPerSubject: 2,
		Duplicates:        2 * time.Minute,
		DenyPurge:         true,
		Replicas:          replicas,
	}
}

// Secrets keeps the endpoints' signing secrets, each wrapped by the KEK
// under the entry <org>.<webhook>.<secret id>. It is safe for concurrent use.
type Secrets struct {
	kv     jetstream.KeyValue
	stream jetstream.Stream
	// current wraps; keks open, by id (current and previous ones).
	current *keystore.KEK
	keks    map[string]*keystore.KEK

	mu    sync.Mutex
	cache *simplelru.LRU[string, []byte] // unwrapped secrets by entry
}

// secretsCached bounds the unwrapped secrets a replica keeps (64 bytes
// and their names each).
const secretsCached = 10_000

// OpenSecrets makes sure of the secrets bucket and binds to it; current
// wraps new secrets, previous KEKs still open those they wrapped.
func OpenSecrets(ctx context.Context, js jetstream.JetStream, replicas int, current *keystore.KEK, previous ...*keystore.KEK) (*Secrets, error) {
	if current == nil {
		return nil, errors.New("webhook secrets: a key-encryption key is required")
	}
	stream, err := eventstore.EnsureStreamConfig(ctx, js, secretsConfig(replicas))
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, eventstore.WebhookSecretsBucket)
	if err != nil {
		return nil, fmt.Errorf("webhook secrets bucket: %w", err)
	}
	cache, _ := simplelru.NewLRU[string, []byte](secretsCached, nil)
	s := &Secrets{kv: kv, stream: stream, current: current, keks: map[string]*keystore.KEK{current.ID(): current}, cache: cache}
	for _, k := range previous {
		s.keks[k.ID()] = k
	}
	return s, nil
}

// wrapped is a secret as the bucket holds it.
type wrapped struct {
	KEK    string `json:"kek"`
	Secret []byte `json:"secret"`
}

// wrap is secret name's value in the bucket, wrapped by the current KEK.
func (s *Secrets) wrap(name string, secret []byte) []byte {
	v, _ := json.Marshal(wrapped{KEK: s.current.ID(), Secret: s.current.Wrap(secret, secretAD(name))})
	return v
}

// unwrap opens secret name's value, and names the KEK that wrapped it.
func (s *Secrets) unwrap(name string, value []byte) ([]byte, string, error) {
	var w wrapped
	if err := json.Unmarshal(value, &w); err != nil {
		return nil, "", fmt.Errorf("webhook secret %s: %w", name, err)
	}
	k, ok := s.keks[w.KEK]
	if !ok {
		return nil, "", fmt.Errorf("%w: webhook secret %s is wrapped by key-encryption key %s", keystore.ErrUnknownKEK, name, w.KEK)
	}
	secret, err := k.Unwrap(w.Secret, secretAD(name))
	if err != nil {
		return nil, "", fmt.Errorf("webhook secret %s does not open with key-encryption key %s: %w", name, w.KEK, err)
	}
	return secret, w.KEK, nil
}

func secretName(org, webhookID, secretID string) string {
	return org + "." + webhookID + "." + secretID
}

func secretAD(name string) []byte { return []byte("invitesvc webhook secret v1\x00" + name) }

func unavailable(err error) error { return fmt.Errorf("%w: webhooks: %w", domain.ErrUnavailable, err) }

// Put stores an endpoint's secret under secretID.
func (s *Secrets) Put(ctx context.Context, org, webhookID, secretID string, secret []byte) error {
	name := secretName(org, webhookID, secretID)
	if _, err := s.kv.Put(ctx, name, s.wrap(name, secret)); err != nil {
		return unavailable(err)
	}
	return nil
}

// Rewrap wraps again with the current KEK every secret a previous one
// wrapped, erasing each old wrapping: from then on the bucket needs the
// current KEK alone. It answers how many secrets it rewrapped; replicas
// may run it at once.
func (s *Secrets) Rewrap(ctx context.Context) (int, error) {
	prefix := "$KV." + eventstore.WebhookSecretsBucket + "."
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return 0, unavailable(err)
	}
	n := 0
	for subject := range info.State.Subjects {
		done, err := s.rewrap(ctx, strings.TrimPrefix(subject, prefix))
		if err != nil {
			return n, fmt.Errorf("rewrap webhook secret: %w", err)
		}
		if done {
			n++
		}
	}
	return n, nil
}

// rewrap wraps secret name again with the current KEK if another wrapped
// it, then erases the old wrapping.
func (s *Secrets) rewrap(ctx context.Context, name string) (bool, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil // destroyed meanwhile
	}
	if err != nil {
		return false, unavailable(err)
	}
	secret, kek, err := s.unwrap(name, e.Value())
	if err != nil {
		return false, err
	}
	if kek == s.current.ID() {
		return false, nil
	}
	if _, err := s.kv.Update(ctx, name, s.wrap(name, secret), e.Revision()); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil // destroyed or rewrapped by another replica
		}
		return false, unavailable(err)
	}
	if err := s.stream.SecureDeleteMsg(ctx, e.Revision()); err != nil {
		if _, getErr := s.stream.GetMsg(ctx, e.Revision()); !errors.Is(getErr, jetstream.ErrMsgNotFound) {
			return false, unavailable(err)
		}
	}
	return true, nil
}

// errNoSecret is a secret the bucket does not hold (destroyed).
var errNoSecret = errors.New("webhook secret not kept")

// Get is the secret of an endpoint under secretID.
func (s *Secrets) Get(ctx context.Context, org, webhookID, secretID string) ([]byte, error) {
	name := secretName(org, webhookID, secretID)
	s.mu.Lock()
	secret, ok := s.cache.Get(name)
	s.mu.Unlock()
	if ok {
		return secret, nil
	}
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s", errNoSecret, name)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if secret, _, err = s.unwrap(name, e.Value()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache.Add(name, secret)
	s.mu.Unlock()
	return secret, nil
}

// Destroy erases every secret of an endpoint but those of keep, with the
// secure erase, which overwrites their bytes in the bucket's files.
func (s *Secrets) Destroy(ctx context.Context, org, webhookID string, keep ...string) error {
	prefix := "$KV." + eventstore.WebhookSecretsBucket + "."
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(prefix+secretName(org, webhookID, "*")))
	if err != nil {
		return unavailable(err)
	}
	for subject := range info.State.Subjects {
		name := strings.TrimPrefix(subject, prefix)
		if slices.Contains(keep, name[strings.LastIndexByte(name, '.')+1:]) {
			continue
		}
		if err := s.erase(ctx, subject); err != nil {
			return unavailable(fmt.Errorf("erase %s: %w", name, err))
		}
		s.mu.Lock()
		s.cache.Remove(name)
		s.mu.Unlock()
	}
	return nil
}

// erase securely deletes every message on subject; one erased meanwhile
// by another replica is no error.
func (s *Secrets) erase(ctx context.Context, subject string) error {
	for {
		m, err := s.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.stream.SecureDeleteMsg(ctx, m.Sequence); err != nil {
			if _, getErr := s.stream.GetMsg(ctx, m.Sequence); !errors.Is(getErr, jetstream.ErrMsgNotFound) {
				return err
			}
		}
	}
}
