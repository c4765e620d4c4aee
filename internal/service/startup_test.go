package service_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

func TestTracesURL(t *testing.T) {
	for endpoint, want := range map[string]string{
		"http://127.0.0.1:4318":                      "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":                     "http://127.0.0.1:4318/v1/traces",
		"https://gateway.example.com/otel":           "https://gateway.example.com/otel/v1/traces",
		"https://gateway.example.com/otel/":          "https://gateway.example.com/otel/v1/traces",
		"http://127.0.0.1:4318/v1/traces":            "http://127.0.0.1:4318/v1/traces", // a traces URL, as is
		"https://gateway.example.com/otel/v1/traces": "https://gateway.example.com/otel/v1/traces",
	} {
		if got, err := service.TracesURL(endpoint); err != nil || got != want {
			t.Errorf("TracesURL(%q) = %q, %v; want %q", endpoint, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:4318", "localhost:4318", "grpc://127.0.0.1:4317", "http://", "://x"} {
		if _, err := service.TracesURL(bad); err == nil || !strings.Contains(err.Error(), "--otlp-endpoint") {
			t.Errorf("TracesURL(%q): %v, want an error naming --otlp-endpoint", bad, err)
		}
	}
}

// TestStartRefusesAnUnusableDataDir: a data directory that cannot be made
// or written is said at once, by name and with the system's reason, not
// after the embedded server's 15 s wait. (The test runs as root in CI,
// where permissions do not stop writes: a regular file stands in the way.)
func TestStartRefusesAnUnusableDataDir(t *testing.T) {
	testkit.NeedsServers(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	jetstreamIsAFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(jetstreamIsAFile, "jetstream"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		filepath.Join(file, "data"): "data directory " + filepath.Join(file, "data") + ": mkdir " + file + ": not a directory",
		jetstreamIsAFile:            "store " + filepath.Join(jetstreamIsAFile, "jetstream") + "): Can't start JetStream: storage directory is not a directory",
	} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		svc, err := service.Start(ctx, service.Config{DataDir: dir, JWTSecret: string(secret), Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if err == nil {
			svc.Close()
			t.Fatalf("started on %s", dir)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("data dir %s: %v, want it to say %q", dir, err, want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("data dir %s refused after %s", dir, took)
		}
	}
}

// TestStopLogsNoError: a service stopped at once logs no error of its
// background work (the expiry's follower used to report context canceled
// after a start-up error).
func TestStopLogsNoError(t *testing.T) {
	var logs testkit.Buffer
	s := startStack(t, "", func(c *service.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	s.stop()
	if logs.String() != "" {
		t.Fatalf("stopping logged:\n%s", logs.String())
	}
}
