package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

func TestParseRefusesBadSettings(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string // part of the error
	}{
		{[]string{"--http-addr", "8080"}, nil, "--http-addr"},
		{[]string{"--stream-replicas", "0"}, nil, "--stream-replicas"},
		{[]string{"--jwt-secret", "short"}, nil, "--jwt-secret"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--nats-url", "nats://x:4222", "--nats-listen", "127.0.0.1:4333"}, nil, "--nats-listen"},
		{[]string{"--failed-attempts-burst", "0"}, nil, "--failed-attempts"},
		{nil, map[string]string{"INVITESVC_STREAM_REPLICAS": "three"}, "INVITESVC_STREAM_REPLICAS"},
		{[]string{"extra"}, nil, "unexpected argument"},
		{[]string{"--trusted-proxies", "10.0.0.0/8,nope"}, nil, "--trusted-proxies"},
		{[]string{"--otlp-endpoint", "localhost:4318"}, nil, "--otlp-endpoint"},
		{[]string{"--nats-url", "nats://x:4222", "--nats-nkey", "a.nk", "--nats-creds", "a.creds"}, nil, "not both"},
		{nil, map[string]string{"INVITESVC_NATS_NKEY": "service.nk"}, "--nats-url"},
		{[]string{"--accept-unverified", "12,x"}, nil, "accept-unverified"},
		{[]string{"--cors-origins", "https://console.example.com,*"}, nil, "cors-origins"},
		{[]string{"--cors-origins", "https://Console.example.com"}, nil, `write "https://console.example.com"`},
		{[]string{"--cors-origins", "https://console.example.com/"}, nil, "cors-origins"},
		{[]string{"--cors-origins", "https://console.example.com:443"}, nil, `write "https://console.example.com"`},
		{[]string{"--cors-origins", "null"}, nil, "cors-origins"},
		{nil, map[string]string{"INVITESVC_CORS_ORIGINS": "console.example.com"}, "INVITESVC_CORS_ORIGINS"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := parse(tt.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestParseTakesEnvironmentAndFlagsWin(t *testing.T) {
	t.Setenv("INVITESVC_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("INVITESVC_REDIS_URL", "redis://127.0.0.1:6390/1")
	t.Setenv("INVITESVC_ACCEPT_UNVERIFIED", "12, 40")
	t.Setenv("INVITESVC_CORS_ORIGINS", "https://ignored.example.com")
	s, err := parse([]string{"--http-addr", "127.0.0.1:7777", "--verify-keys", "old.pub,other.pub",
		"--cors-origins", "https://console.example.com, http://localhost:5173"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s.httpAddr != "127.0.0.1:7777" || s.RedisURL != "redis://127.0.0.1:6390/1" {
		t.Fatalf("settings %+v", s)
	}
	if !slices.Equal(s.CORSOrigins, []string{"https://console.example.com", "http://localhost:5173"}) {
		t.Fatalf("cors-origins %q", s.CORSOrigins)
	}
	if !slices.Equal(s.AcceptUnverified, []uint64{12, 40}) || !slices.Equal(s.VerifyKeys, []string{"old.pub", "other.pub"}) {
		t.Fatalf("accept-unverified %v, verify-keys %v", s.AcceptUnverified, s.VerifyKeys)
	}
	if s.DataDir != "./data" || s.FailureBurst != 20 {
		t.Fatalf("defaults %+v", s)
	}
}

// TestParseDefaultsAreTheServices: with no flag and no environment, the
// service runs with service.DefaultConfig.
func TestParseDefaultsAreTheServices(t *testing.T) {
	s, err := parse(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Config, service.DefaultConfig()) {
		t.Fatalf("defaults %+v, want service.DefaultConfig() %+v", s.Config, service.DefaultConfig())
	}
	if s.httpAddr != "127.0.0.1:8080" || s.logLevel != "info" {
		t.Fatalf("defaults %+v", s)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSIGTERMDrainsAndExitsZero runs the real binary in dev mode, as a
// newcomer would, and stops it with SIGTERM.
func TestSIGTERMDrainsAndExitsZero(t *testing.T) {
	testkit.NeedsServers(t)
	bin := filepath.Join(t.TempDir(), "invitesvc")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	var stderr testkit.Buffer
	cmd := exec.Command(bin, "--http-addr", addr, "--data-dir", dataDir, "--nats-listen", natsAddr)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil && res.StatusCode == http.StatusOK {
			res.Body.Close()
			break
		}
		if ctx.Err() != nil {
			_ = cmd.Process.Kill()
			t.Fatalf("not ready: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "DEV MODE") || !strings.Contains(stderr.String(), "export ADMIN_TOKEN=") {
		t.Fatalf("dev mode not announced:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dataDir, "jetstream")); err != nil {
		t.Fatalf("the stream is not kept under --data-dir: %v", err)
	}
	// A second process on the same data directory refuses to start.
	second := exec.CommandContext(ctx, bin, "--http-addr", freeAddr(t), "--data-dir", dataDir)
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("a second invitesvc on the data directory: %v\n%s", err, out)
	}
	// --nats-listen exposes the embedded server and its stream to tools,
	// with the credentials it announced, and to nobody else.
	auditor := filepath.Join(dataDir, "nats", "auditor.nk")
	if !strings.Contains(stderr.String(), "--nats-nkey "+auditor) {
		t.Fatalf("the NATS users are not announced:\n%s", stderr.String())
	}
	if _, err := nats.Connect("nats://" + natsAddr); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connection to the embedded NATS: %v, want an authorization violation", err)
	}
	creds, err := nats.NkeyOptionFromSeed(auditor)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+natsAddr, creds)
	if err != nil {
		t.Fatalf("embedded NATS not exposed: %v", err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(ctx, "INVITATIONS"); err != nil {
		t.Fatalf("stream not found through --nats-listen: %v", err)
	}
	nc.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatalf("still running after SIGTERM")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no orderly stop logged:\n%s", stderr.String())
	}
}
