package redisserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ErrNotInstalled means redis-server is not on the PATH.
var ErrNotInstalled = errors.New("redis-server not found: install it (Debian: apt-get install redis-server)")

// Server is a running redis-server.
type Server struct {
	URL    string // redis://127.0.0.1:<port>
	cmd    *exec.Cmd
	exited chan struct{}
	once   sync.Once
}

// Start starts redis-server on port ("" picks a free one), keeping its log
// in dir, and waits until it answers PING. The server dies with this
// process (on Linux), so an interrupted run leaves none behind.
func Start(dir, port string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	if port == "" {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logFile := filepath.Join(dir, "redis.log")
	addr := net.JoinHostPort("127.0.0.1", port)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logFile)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &Server{URL: "redis://" + addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !answersPing(addr) {
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s; log:\n%s", addr, readLog(logFile))
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("redis-server on %s exited; log:\n%s", addr, readLog(logFile))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s, nil
}

// Stop kills the server and waits until it is gone. Calling it again does
// nothing.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

// FreePort asks the kernel for a loopback port nobody listens on.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
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
