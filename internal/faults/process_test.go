package faults_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// invitesvcBinary builds cmd/invitesvc once per test run.
func invitesvcBinary(t *testing.T) string {
	t.Helper()
	testkit.NeedsServers(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "invitesvc-faults-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "invitesvc")
		out, err := exec.Command("go", "build", "-o", binary, "../../cmd/invitesvc").CombinedOutput()
		if err != nil {
			buildErr = err
			binary = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build invitesvc: %v\n%s", buildErr, binary)
	}
	return binary
}

var secret = []byte("fault-suite-secret-0123456789abcdef")

func token(t *testing.T, sub, email string, perms map[string][]string) string {
	t.Helper()
	tok, err := auth.Mint(secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, Email: email, OrgPermissions: perms}, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// process is one invitesvc process.
type process struct {
	cmd    *exec.Cmd
	url    string
	output *testkit.Buffer
	exited chan struct{}
}

// startService runs invitesvc with args and waits until it is ready.
func startService(t *testing.T, args ...string) *process {
	t.Helper()
	addr := testkit.FreeAddr(t)
	s := &process{url: "http://" + addr, output: &testkit.Buffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(invitesvcBinary(t), append([]string{"--http-addr", addr, "--jwt-secret", string(secret),
		"--failed-attempts-burst", "100000", "--failed-attempts-per-minute", "100000", "--invitations-per-org-per-hour", "1000000"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.kill)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		res, err := http.Get(s.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("invitesvc exited:\n%s", s.output.String())
		case <-ctx.Done():
			t.Fatalf("invitesvc not ready:\n%s", s.output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill is kill -9: no drain, no flush.
func (s *process) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}
