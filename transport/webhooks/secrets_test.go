package webhooks_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
	"github.com/invitesvc/invitesvc/transport/keystore"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

// A rotation of the key-encryption key rewraps every signing secret, with
// replicas doing it at once: afterwards the new KEK alone opens them, and
// no old wrapping is left in the bucket's files for a leaked old KEK.
func TestSecretsRewrapWithTheCurrentKEK(t *testing.T) {
	w := newWorld(t)
	js := w.replica(replicaConfig{noDispatcher: true}).events.JetStream()
	ctx := t.Context()
	old, err := webhooks.OpenSecrets(ctx, js, 1, w.kek)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, eventstore.WebhookSecretsBucket)
	if err != nil {
		t.Fatal(err)
	}
	const hooks = 20
	var oldWrappings [][]byte
	for i := range hooks {
		if err := old.Put(ctx, "acme", fmt.Sprint("hook-", i), "s1", []byte(fmt.Sprintf("secret %02d, 32 bytes long......", i))); err != nil {
			t.Fatal(err)
		}
		e, err := kv.Get(ctx, fmt.Sprint("acme.hook-", i, ".s1"))
		if err != nil {
			t.Fatal(err)
		}
		oldWrappings = append(oldWrappings, e.Value())
	}

	next, err := keystore.LoadKEK(testkit.KEKFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 8 { // replicas restarted with the new KEK, each rewrapping
		rotated, err := webhooks.OpenSecrets(ctx, js, 1, next, w.kek)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			n, err := rotated.Rewrap(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != hooks {
		t.Fatalf("rewrapped %d secrets in all, want each of %d once", total, hooks)
	}

	alone, err := webhooks.OpenSecrets(ctx, js, 1, next)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := alone.Rewrap(ctx); err != nil || n != 0 {
		t.Fatalf("rewrap again: %d, %v; want 0", n, err)
	}
	for i := range hooks {
		got, err := alone.Get(ctx, "acme", fmt.Sprint("hook-", i), "s1")
		if want := fmt.Sprintf("secret %02d, 32 bytes long......", i); err != nil || string(got) != want {
			t.Fatalf("hook-%d with the new KEK alone: %q, %v", i, got, err)
		}
	}
	if _, err := old.Get(ctx, "acme", "hook-0", "s2"); err == nil {
		t.Fatal("a secret never put reads")
	}
	stale, err := webhooks.OpenSecrets(ctx, js, 1, w.kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stale.Get(ctx, "acme", "hook-0", "s1"); !errors.Is(err, keystore.ErrUnknownKEK) {
		t.Fatalf("the old KEK alone after the rewrap: %v; want ErrUnknownKEK", err)
	}
	files := w.nats.StoreFiles(t)
	for i, v := range oldWrappings {
		if bytes.Contains(files, v) {
			t.Fatalf("hook-%d: the old wrapping is still in the bucket's files: a leaked old KEK would open it", i)
		}
	}
}
