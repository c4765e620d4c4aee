package service_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

// fillStore creates invitations until the event store refuses: the answers
// must be 503 with Retry-After, never 500.
func fillStore(t *testing.T, s *stack) {
	t.Helper()
	statuses := map[int]int{}
	for i := 0; i < 2000 && statuses[http.StatusServiceUnavailable] < 20; i++ {
		emails := make([]string, 50)
		for j := range emails {
			emails[j] = fmt.Sprintf("p%d.%d@example.com", i, j)
		}
		r := s.do("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": emails})
		statuses[r.status]++
		if r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
			t.Fatalf("503 without Retry-After: %v", r.body)
		}
	}
	t.Logf("answers while filling the store: %v", statuses)
	if statuses[http.StatusInternalServerError] > 0 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("answers %v: want 503s once the store is full, no 500", statuses)
	}
}

// TestFullStoreAnswers503 fills the embedded server's JetStream storage
// (bounded small, so no root and no full disk is needed): every create then
// answers 503 with Retry-After, and readiness says the event store cannot
// be written, while the process stays healthy.
func TestFullStoreAnswers503(t *testing.T) {
	s := startStack(t, "", func(c *service.Config) { c.MaxStore, c.InvitationsPerHour = 256<<10, 1<<20 })
	s.register("acme")
	fillStore(t, s)
	eventually(t, 5*time.Second, "readiness fails with the store full", func() bool { return s.readyz() == http.StatusServiceUnavailable })
	if status, _ := s.get("/healthz"); status != http.StatusOK {
		t.Fatalf("healthz %d: a full store limit is not a reason to restart", status)
	}
}

// TestWritesRecoverWhenStorageReturns: on an external server whose storage
// limit is reached, then raised (a reload, as an operator would), the
// service writes again and turns ready without a restart.
func TestWritesRecoverWhenStorageReturns(t *testing.T) {
	opts := natsOptions(t.TempDir(), -1)
	opts.JetStreamMaxStore = 256 << 10
	ns := startNATSWith(t, opts)
	s := startStack(t, "", func(c *service.Config) { c.NATSURL, c.InvitationsPerHour = ns.ClientURL(), 1<<20 })
	s.register("acme")
	fillStore(t, s)
	eventually(t, 5*time.Second, "readiness fails with the store full", func() bool { return s.readyz() == http.StatusServiceUnavailable })

	bigger := opts.Clone()
	bigger.JetStreamMaxStore = 64 << 20
	if err := ns.ReloadOptions(bigger); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "creates succeed again", func() bool {
		return s.doQuiet("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{"after@example.com"}}).status == http.StatusCreated
	})
	eventually(t, 5*time.Second, "ready again", func() bool { return s.readyz() == http.StatusOK })
}

// TestFullDiskNeedsARestart puts the data directory on a small tmpfs (as
// root; skipped where it cannot be mounted) and fills the disk for real:
// creates answer 503, never 500, and readiness fails. The embedded server
// sizes its store from the free space when it starts, so freeing space does
// not bring writes back: readiness stays failed until a restart, after which
// every acknowledged invitation is there.
func TestFullDiskNeedsARestart(t *testing.T) {
	testkit.NeedsServers(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small filesystem here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	// Ballast leaves the store a few megabytes, and frees them afterwards.
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 16<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, "", func(c *service.Config) { c.DataDir, c.InvitationsPerHour = dir, 1<<20 })
	s.register("acme")
	statuses := map[int]int{}
	for i := 0; i < 5000 && statuses[http.StatusServiceUnavailable] < 20; i++ {
		statuses[s.doQuiet("POST", api+"/acme/invitations", s.admin, map[string]any{"emails": []string{fmt.Sprintf("p%d@example.com", i)}}).status]++
	}
	t.Logf("answers while filling the disk: %v", statuses)
	if statuses[http.StatusInternalServerError] > 0 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("answers %v: want 503s once the disk is full, no 500", statuses)
	}
	eventually(t, 5*time.Second, "readiness fails with the disk full", func() bool { return s.readyz() == http.StatusServiceUnavailable })
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // two probes
	if status := s.readyz(); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d after space came back, before a restart (has nats-server learnt to resize its store?)", status)
	}

	s.restart()
	eventually(t, 10*time.Second, "ready after the restart", func() bool { return s.readyz() == http.StatusOK })
	// Each acknowledged create is there; a create answered 503 may have
	// been written all the same (its acknowledgement lost), never half.
	listed := 0
	for path := api + "/acme/invitations?status=all&limit=100"; path != ""; {
		page := s.do("GET", path, s.admin, nil)
		listed += len(page.list("invitations"))
		path, _ = page.body["links"].(map[string]any)["next"].(string)
	}
	if created, refused := statuses[http.StatusCreated], statuses[http.StatusServiceUnavailable]; listed < created || listed > created+refused {
		t.Fatalf("%d invitations listed after the restart, %d acknowledged, %d refused", listed, created, refused)
	}
}

// TestOneServicePerDataDir starts a second service on a running one's data
// directory: it refuses, naming the directory and the holder, and writes
// nothing; once the first stops, the directory can be used again.
func TestOneServicePerDataDir(t *testing.T) {
	s := startStack(t, "")
	s.register("acme")
	second := s.cfg
	_, err := service.Start(t.Context(), second)
	if err == nil || !strings.Contains(err.Error(), s.cfg.DataDir) || !strings.Contains(err.Error(), "in use by process") {
		t.Fatalf("a second service on %s: %v", s.cfg.DataDir, err)
	}
	expect(t, s.do("GET", api+"/acme", s.admin, nil), http.StatusOK)
	s.restart() // the first released the directory when it stopped
	expect(t, s.do("GET", api+"/acme", s.admin, nil), http.StatusOK)
}
