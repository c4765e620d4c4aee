package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/invitesvc/invitesvc/commands"
	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/webhooks"
)

// insecure lets deliveries reach the test's receivers on 127.0.0.1.
var insecure = webhooks.Policy{AllowInsecure: true}

func TestDeliveriesAreSignedInOrderAndTakenOnceByADedupingReceiver(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	r := w.replica(replicaConfig{policy: insecure})
	hook, secret := r.create("acme", rcv.URL(), domain.TypeInvitationCancelled)
	rcv.Trust(secret)
	// The receiver fails for a while: 500 to its first 4 requests.
	rcv.Answer(func(n int) int {
		if n <= 4 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})

	var seqs []uint64
	for range 5 {
		seqs = append(seqs, r.append(cancelled("acme")))
	}
	r.append(cancelled("globex"))                                                                  // another organization's
	r.append(domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme Inc", Actor: "admin"}) // not subscribed
	want := r.eventIDs(seqs...)
	testkit.Eventually(t, 10*time.Second, "every event applied once", func() bool { return len(rcv.Applied()) == len(want) })
	if applied := rcv.Applied(); !slices.Equal(applied, want) {
		t.Fatalf("applied %s; want the events in stream order %s", describe(applied), describe(want))
	}
	var received []string
	for i, req := range rcv.Requests() {
		if len(req.VerifiedBy) != 1 {
			t.Fatalf("request %d (%s) verified with %d secrets", i, req.WebhookID, len(req.VerifiedBy))
		}
		received = append(received, req.WebhookID)
	}
	// Retries repeat the head: order holds across them (each id's
	// requests come before the next id's first).
	if compact := slices.Compact(slices.Clone(received)); !slices.Equal(compact, want) {
		t.Fatalf("requests %v: not one event at a time in order", received)
	}
	if len(received) != len(want)+4 {
		t.Errorf("%d requests; want %d (4 failures retried)", len(received), len(want)+7)
	}
	if body := rcv.Body(want[0]); !strings.Contains(body, `"type":"invitation.cancelled"`) || !strings.Contains(body, `"specversion":"1.0"`) {
		t.Errorf("body is not the CloudEvent: %s", body)
	}

	// The attempts are listed newest first, with their outcomes.
	got, err := r.api.Deliveries(context.Background(), "acme", hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(received) || got[0].Outcome != "delivered" || !got[0].Final || got[0].EventID != want[len(want)-1] {
		t.Fatalf("deliveries %+v", got)
	}
	failed := got[len(got)-1]
	if failed.Status != 500 || failed.Outcome != "status" || failed.Final || failed.NextAttemptAt == nil || failed.Attempt != 1 {
		t.Errorf("first attempt %+v", failed)
	}
	if v := attemptsCounted(t, r, "delivered"); v != float64(len(want)) {
		t.Errorf("delivered attempts counted %v", v)
	}
}

func TestGoneDisablesTheEndpoint(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	rcv.Answer(func(int) int { return http.StatusGone })
	r := w.replica(replicaConfig{policy: insecure})
	hook, secret := r.create("acme", rcv.URL(), "*")
	rcv.Trust(secret)
	r.append(cancelled("acme"))
	r.append(cancelled("acme"))
	testkit.Eventually(t, 10*time.Second, "the endpoint disabled", func() bool {
		got, err := r.api.Get(context.Background(), "acme", hook.ID)
		return err == nil && !got.Enabled && got.DisabledReason == domain.DisabledGone
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(rcv.Requests()); n != 1 {
		t.Fatalf("%d requests; want 1: a 410 is not retried, and disables at once", n)
	}
	r.append(cancelled("acme"))
	time.Sleep(300 * time.Millisecond)
	if n := len(rcv.Requests()); n != 1 {
		t.Fatalf("a disabled endpoint got %d requests", n-1)
	}
	if _, err := r.api.Replay(context.Background(), "acme", hook.ID, "any"); !errors.Is(err, domain.ErrWebhookDisabled) {
		t.Errorf("replay to a disabled endpoint: %v", err)
	}
}

func TestEndpointFailingTooLongIsDisabled(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	rcv.Answer(func(int) int { return http.StatusBadGateway })
	r := w.replica(replicaConfig{policy: insecure, disableAfter: 200 * time.Millisecond,
		schedule: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}})
	hook, _ := r.create("acme", rcv.URL(), "*")
	r.append(cancelled("acme"))
	testkit.Eventually(t, 10*time.Second, "the endpoint disabled for failing", func() bool {
		got, err := r.api.Get(context.Background(), "acme", hook.ID)
		return err == nil && !got.Enabled && got.DisabledReason == domain.DisabledFailing
	})
}

func TestGivenUpDeliveryMovesOnAndCanBeReplayed(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	r := w.replica(replicaConfig{policy: insecure, schedule: []time.Duration{10 * time.Millisecond}})
	hook, secret := r.create("acme", rcv.URL(), "*")
	rcv.Trust(secret)
	rcv.Answer(func(n int) int {
		if n <= 2 {
			return http.StatusBadRequest // the first event, tried twice, then given up
		}
		return http.StatusOK
	})
	ids := r.eventIDs(r.append(cancelled("acme")), r.append(cancelled("acme")))
	testkit.Eventually(t, 10*time.Second, "the second event applied", func() bool { return slices.Equal(rcv.Applied(), ids[1:]) })
	attempts, err := r.api.Deliveries(context.Background(), "acme", hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	givenUp := attempts[1]
	if givenUp.EventID != ids[0] || !givenUp.Final || givenUp.Outcome != "status" || givenUp.Attempt != 2 {
		t.Fatalf("the given up attempt: %+v", givenUp)
	}
	replayed, err := r.api.Replay(context.Background(), "acme", hook.ID, givenUp.DeliveryID)
	if err != nil || replayed.EventID != ids[0] || replayed.DeliveryID == givenUp.DeliveryID {
		t.Fatalf("replay: %+v %v", replayed, err)
	}
	testkit.Eventually(t, 10*time.Second, "the replayed event applied", func() bool { return slices.Equal(rcv.Applied(), []string{ids[1], ids[0]}) })
	if _, err := r.api.Replay(context.Background(), "acme", hook.ID, "0193c0de-0000-7000-8000-000000000000"); !errors.Is(err, domain.ErrDeliveryNotFound) {
		t.Errorf("replay of no delivery: %v", err)
	}
}

func TestRotationSignsWithBothSecretsUntilTheOverlapEnds(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	r := w.replica(replicaConfig{policy: insecure, overlap: 700 * time.Millisecond})
	hook, old := r.create("acme", rcv.URL(), "*")
	rcv.Trust(old)
	_, fresh, err := r.api.RotateSecret(context.Background(), commands.RotateWebhookSecret{OrganizationID: "acme", WebhookID: hook.ID, Actor: "admin"})
	if err != nil || fresh == old {
		t.Fatal(err)
	}
	rcv.Trust(fresh)
	rotatedAt := time.Now()
	r.append(cancelled("acme"))
	testkit.Eventually(t, 5*time.Second, "one delivery", func() bool { return len(rcv.Applied()) == 1 })
	if time.Since(rotatedAt) < 700*time.Millisecond {
		if req := rcv.Requests()[0]; len(req.VerifiedBy) != 2 || req.Signatures != 2 {
			t.Fatalf("within the overlap: %d signatures, verified by %d secrets; want both", req.Signatures, len(req.VerifiedBy))
		}
	}
	time.Sleep(time.Until(rotatedAt.Add(800 * time.Millisecond)))
	r.append(cancelled("acme"))
	testkit.Eventually(t, 5*time.Second, "a second delivery", func() bool { return len(rcv.Applied()) == 2 })
	requests := rcv.Requests()
	if last := requests[len(requests)-1]; last.Signatures != 1 || !slices.Equal(last.VerifiedBy, []string{fresh}) {
		t.Fatalf("after the overlap: %d signatures, verified by %v; want the new secret alone", last.Signatures, last.VerifiedBy)
	}
}

func TestAHangingEndpointDelaysNoOther(t *testing.T) {
	w := newWorld(t)
	stuck, quick := w.receiver(), w.receiver()
	stuck.Hang(t)
	r := w.replica(replicaConfig{policy: insecure, timeout: 30 * time.Second})
	r.create("acme", stuck.URL(), "*")
	_, secret := r.create("acme", quick.URL(), "*")
	quick.Trust(secret)
	start := time.Now()
	for range 3 {
		r.append(cancelled("acme"))
	}
	testkit.Eventually(t, 10*time.Second, "the quick endpoint has every event", func() bool { return len(quick.Applied()) == 3 })
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s", took)
	}
	testkit.Eventually(t, 5*time.Second, "the hanging endpoint asked", func() bool { return len(stuck.Requests()) > 0 })
	time.Sleep(200 * time.Millisecond)
	if n := len(stuck.Requests()); n != 1 {
		t.Errorf("the hanging endpoint got %d requests; want 1 (its head, still waiting)", n)
	}
	// Its pending deliveries show in the metrics; the quick one has none.
	testkit.Eventually(t, 5*time.Second, "the oldest pending metric", func() bool {
		n, err := testutil.GatherAndCount(r.metrics, "invitesvc_webhook_oldest_pending_seconds")
		return err == nil && n == 1
	})
}

func TestAbruptStopLosesNoDelivery(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	rcv.Answer(func(int) int { return http.StatusServiceUnavailable })
	// The schedule is kept across the restart: the retry after the crash
	// is due when the first replica's last attempt said.
	retries := []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
	first := w.replica(replicaConfig{policy: insecure, schedule: retries})
	_, secret := first.create("acme", rcv.URL(), "*")
	rcv.Trust(secret)
	var seqs []uint64
	for range 6 {
		seqs = append(seqs, first.append(cancelled("acme")))
	}
	testkit.Eventually(t, 5*time.Second, "the first delivery tried", func() bool { return len(rcv.Requests()) > 0 })
	// The replica dies: its connection drops, nothing is handed on (the
	// lease runs out on its own), its memory is gone.
	first.nc.Close()
	rcv.Answer(func(int) int { return http.StatusOK })
	second := w.replica(replicaConfig{policy: insecure, schedule: retries})
	want := second.eventIDs(seqs...)
	testkit.Eventually(t, 20*time.Second, "every event applied after the restart", func() bool { return len(rcv.Applied()) == len(want) })
	if applied := rcv.Applied(); !slices.Equal(applied, want) {
		t.Fatalf("applied %s; want %s", describe(applied), describe(want))
	}
}

func TestDeliveriesGoOnlyWhereThePolicyAllows(t *testing.T) {
	w := newWorld(t)
	rcv := w.receiver()
	strict := webhooks.Policy{}
	// A name that resolves to loopback, as a rebinding name would once
	// created: allowed at create, refused on the address dialled.
	r := w.replica(replicaConfig{policy: strict, hosts: map[string]string{"hooks.example.com": "127.0.0.1"}, schedule: []time.Duration{}})
	ctx := context.Background()
	for _, url := range []string{"https://127.0.0.1/hooks", "https://[::1]/hooks", "https://10.0.0.1/hooks", "https://169.254.169.254/latest",
		"https://[fd00:ec2::254]/", "https://100.64.0.1/", "https://[::ffff:127.0.0.1]/", "https://localhost/hooks", "http://hooks.example.com/"} {
		_, _, err := r.api.Create(ctx, commands.CreateWebhook{OrganizationID: "acme", Settings: domain.WebhookSettings{URL: url, Events: []string{"*"}}})
		if v := domain.Violations(err); len(v) != 1 || v[0].Code != domain.CodeInvalidParameter || !slices.Equal(v[0].Fields, []string{"url"}) {
			t.Errorf("create %s: %v; want 400 url", url, err)
		}
	}
	addr := rcv.Server().Listener.Addr().String()
	port := addr[strings.LastIndexByte(addr, ':'):]
	hook, _ := r.create("acme", "https://hooks.example.com"+port+"/hooks", "*")
	r.append(cancelled("acme"))
	testkit.Eventually(t, 10*time.Second, "the attempt refused", func() bool {
		got, err := r.api.Deliveries(ctx, "acme", hook.ID)
		return err == nil && len(got) == 1 && got[0].Outcome == "refused" && got[0].Final
	})
	if n := len(rcv.Requests()); n != 0 {
		t.Fatalf("the receiver on loopback got %d requests", n)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	w := newWorld(t)
	target, redirecting := w.receiver(), w.receiver()
	redirecting.Server().Config.Handler = http.RedirectHandler(target.URL(), http.StatusFound)
	r := w.replica(replicaConfig{policy: insecure, schedule: []time.Duration{}})
	hook, _ := r.create("acme", redirecting.URL(), "*")
	r.append(cancelled("acme"))
	testkit.Eventually(t, 10*time.Second, "the 302 recorded", func() bool {
		got, err := r.api.Deliveries(context.Background(), "acme", hook.ID)
		return err == nil && len(got) == 1 && got[0].Status == http.StatusFound && got[0].Final
	})
	if len(target.Requests()) != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestEndpointsAreOrganizations(t *testing.T) {
	w := newWorld(t)
	r := w.replica(replicaConfig{policy: insecure, noDispatcher: true})
	ctx := context.Background()
	a, _ := r.create("acme", "https://a.example.com/", "*")
	b, _ := r.create("acme", "https://b.example.com/", domain.TypeMembershipAdded)
	g, _ := r.create("globex", "https://g.example.com/", "*")
	list, err := r.api.List(ctx, "acme")
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("acme's list: %+v %v", list, err)
	}
	if _, err := r.api.Get(ctx, "acme", g.ID); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("globex's endpoint read through acme: %v", err)
	}
	if _, err := r.api.Deliveries(ctx, "acme", g.ID); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("globex's deliveries read through acme: %v", err)
	}
	if err := r.api.Delete(ctx, commands.DeleteWebhook{OrganizationID: "acme", WebhookID: g.ID}); !errors.Is(err, domain.ErrWebhookNotFound) {
		t.Errorf("globex's endpoint deleted through acme: %v", err)
	}
	if err := r.api.Delete(ctx, commands.DeleteWebhook{OrganizationID: "acme", WebhookID: a.ID}); err != nil {
		t.Fatal(err)
	}
	if list, _ := r.api.List(ctx, "acme"); len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("after a delete: %+v", list)
	}
	if list, _ := r.api.List(ctx, "globex"); len(list) != 1 || list[0].ID != g.ID {
		t.Fatalf("globex's list: %+v", list)
	}
}

func TestSecretsAreWrappedAndErased(t *testing.T) {
	w := newWorld(t)
	r := w.replica(replicaConfig{noDispatcher: true})
	ctx := context.Background()
	if err := r.stores.Secrets.Put(ctx, "acme", "hook", "s1", []byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if err := r.stores.Secrets.Put(ctx, "acme", "hook", "s2", []byte("second secret, 32 bytes long....")); err != nil {
		t.Fatal(err)
	}
	// Another replica, with its own cache, reads it through the bucket.
	other := w.replica(replicaConfig{noDispatcher: true})
	got, err := other.stores.Secrets.Get(ctx, "acme", "hook", "s1")
	if err != nil || string(got) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("get: %q %v", got, err)
	}
	if err := r.stores.Secrets.Destroy(ctx, "acme", "hook", "s2"); err != nil {
		t.Fatal(err)
	}
	fresh := w.replica(replicaConfig{noDispatcher: true})
	if _, err := fresh.stores.Secrets.Get(ctx, "acme", "hook", "s1"); err == nil {
		t.Fatal("a destroyed secret still reads")
	}
	if _, err := fresh.stores.Secrets.Get(ctx, "acme", "hook", "s2"); err != nil {
		t.Fatalf("the secret kept: %v", err)
	}
}
