package testkit

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Redis returns the URL of a Redis server for t. With REDIS_URL set that
// server is shared with other tests and runs: never flush it, give every
// store a key prefix of its own. Otherwise it starts a private redis-server
// that stops when t ends.
func Redis(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	u, _ := StartRedisServer(t)
	return u
}

// StartRedisServer starts a private redis-server on a free loopback port,
// without persistence, and waits until it answers. stop kills it, for tests
// of an unreachable Redis; t's cleanup calls it too.
func StartRedisServer(t testing.TB) (url string, stop func()) {
	t.Helper()
	return StartRedisServerOnPort(t, freePort(t))
}

// StartRedisServerOnPort is StartRedisServer on a given port, to bring a
// stopped server back at the same address.
func StartRedisServerOnPort(t testing.TB, port string) (url string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed by this test and was not found (%v): install it (Debian: apt-get install redis-server) or set REDIS_URL", err)
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "redis.log")
	addr := "127.0.0.1:" + port
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logFile)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	t.Cleanup(stop)

	deadline := time.Now().Add(10 * time.Second)
	for !answersPing(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer PING within 10s; log:\n%s", addr, readLog(logFile))
		}
		select {
		case <-exited:
			t.Fatalf("redis-server on %s exited; log:\n%s", addr, readLog(logFile))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "redis://" + addr, stop
}

// freePort asks the kernel for a port nobody listens on.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func answersPing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
