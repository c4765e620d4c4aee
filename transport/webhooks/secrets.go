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
// message deletes), reads from the leader only (a follower may lag an
// erasure) and no purge: one value per secret, never rewritten.
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
		MaxMsgsPerSubject: 1,
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

func secretName(org, webhookID, secretID string) string {
	return org + "." + webhookID + "." + secretID
}

func secretAD(name string) []byte { return []byte("invitesvc webhook secret v1\x00" + name) }

func unavailable(err error) error { return fmt.Errorf("%w: webhooks: %w", domain.ErrUnavailable, err) }

// Put stores an endpoint's secret under secretID.
func (s *Secrets) Put(ctx context.Context, org, webhookID, secretID string, secret []byte) error {
	name := secretName(org, webhookID, secretID)
	v, _ := json.Marshal(wrapped{KEK: s.current.ID(), Secret: s.current.Wrap(secret, secretAD(name))})
	if _, err := s.kv.Put(ctx, name, v); err != nil {
		return unavailable(err)
	}
	return nil
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
	var w wrapped
	if err := json.Unmarshal(e.Value(), &w); err != nil {
		return nil, fmt.Errorf("webhook secret %s: %w", name, err)
	}
	k, ok := s.keks[w.KEK]
	if !ok {
		return nil, fmt.Errorf("%w: webhook secret %s is wrapped by key-encryption key %s", keystore.ErrUnknownKEK, name, w.KEK)
	}
	if secret, err = k.Unwrap(w.Secret, secretAD(name)); err != nil {
		return nil, fmt.Errorf("webhook secret %s does not open with key-encryption key %s: %w", name, w.KEK, err)
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
