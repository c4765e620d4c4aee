package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/testkit"
)

// TestSmoke runs every step on tiny settings, so that the tool keeps working:
// each figure is there, none failed, and the JSON says what the table says.
func TestSmoke(t *testing.T) {
	testkit.NeedsServers(t)
	args := []string{"--duration", "100ms", "--clients", "1,2", "--read-invitations", "100", "--lag-rate", "100",
		"--rebuild-events", "2000", "--rebuild-service-events", "500", "--memory-invitations", "300", "--memory-settle", "0s",
		"--write-history", "1000"}
	if u := os.Getenv("REDIS_URL"); u != "" {
		args = append(args, "--redis-url", u) // keys under a prefix of their own, deleted at the end
	} else if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is needed by this test and was not found (%v): install it (Debian: apt-get install redis-server) or set REDIS_URL", err)
	}
	jsonFile := filepath.Join(t.TempDir(), "bench.json")
	args = append(args, "--json", jsonFile, "--markdown")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	if err := run(ctx, args, &out, &progress); err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("the JSON does not decode: %v", err)
	}
	steps := map[string]int{}
	for _, f := range rep.Figures {
		steps[f.Step]++
		if f.Value.Errors > 0 || (f.Baseline != nil && f.Baseline.Errors > 0) {
			t.Errorf("%s: errors: %s", f.Figure, f.Note)
		}
		if f.Value.Value <= 0 && f.Step != "memory" {
			t.Errorf("%s: measured %v", f.Figure, f.Value.Value)
		}
		if f.Baseline != nil && f.Ratio == nil {
			t.Errorf("%s: a baseline without a ratio", f.Figure)
		}
		if !strings.Contains(out.String(), "| "+f.Figure+" |") {
			t.Errorf("the table has no row %q", f.Figure)
		}
	}
	want := map[string]int{"setup": 1, "create": 8, "accept": 6, "lookup": 4, "list": 4, "lag": 2, "rebuild": 6, "memory": 4}
	for step, n := range want {
		if steps[step] != n {
			t.Errorf("step %s: %d figures, want %d", step, steps[step], n)
		}
	}
	if t.Failed() {
		t.Logf("table:\n%s\nprogress:\n%s", out.String(), progress.String())
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--clients", "0"},
		{"--only", "create,nothing"},
		{"--store", "postgres"},
		{"--url", "http://127.0.0.1:1"},      // no --jwt-secret
		{"--nats-url", "nats://127.0.0.1:1"}, // without --url
		{"--list-limit", "5"},
		{"--write-history", "-1"},
		{"--url", "http://127.0.0.1:1", "--jwt-secret", "s", "--write-history", "10"}, // the history needs the in-process service
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	c, err := parse([]string{"--clients", "1, 8", "--only", "lag,memory"}, io.Discard)
	if err != nil || len(c.clients) != 2 || c.clients[1] != 8 || !c.runs("lag") || c.runs("create") {
		t.Errorf("parsed %+v, %v", c, err)
	}
}
