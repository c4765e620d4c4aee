package redisstore_test

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/redisstore"
)

// monitor is a MONITOR connection: it sees every command Redis runs,
// including those of scripts.
type monitor struct {
	conn net.Conn
	r    *bufio.Reader
}

func newMonitor(t *testing.T, url string) *monitor {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", opts.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	m := &monitor{conn: conn, r: bufio.NewReader(conn)}
	if opts.Password != "" {
		m.send(t, "AUTH", opts.Username, opts.Password)
	}
	m.send(t, "MONITOR")
	return m
}

// send sends a command and expects +OK.
func (m *monitor) send(t *testing.T, args ...string) {
	t.Helper()
	var b strings.Builder
	var n int
	for _, a := range args {
		if a != "" {
			n++
		}
	}
	b.WriteString("*" + strconv.Itoa(n) + "\r\n")
	for _, a := range args {
		if a != "" {
			b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
		}
	}
	if _, err := m.conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if line := m.line(t); line != "+OK" {
		t.Fatalf("%s: %q", args[0], line)
	}
}

func (m *monitor) line(t *testing.T) string {
	t.Helper()
	_ = m.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := m.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// commands runs fn and answers the names of the commands run meanwhile that
// mention prefix, each marked with where it came from (lua or a client).
func (m *monitor) commands(t *testing.T, c *redis.Client, prefix string, fn func()) []string {
	t.Helper()
	fn()
	mark := prefix + "monitor-mark-" + time.Now().Format(time.RFC3339Nano)
	c.Get(context.Background(), mark)
	var out []string
	for {
		line := m.line(t)
		if !strings.Contains(line, prefix) {
			continue
		}
		// 1700000000.123456 [0 lua] "HMGET" "key" ...
		_, rest, _ := strings.Cut(line, " [")
		source, rest, _ := strings.Cut(rest, "] ")
		name, _, _ := strings.Cut(rest, " ")
		if strings.Contains(line, mark) {
			return out
		}
		if !strings.HasSuffix(source, " lua") {
			source = "client"
		} else {
			source = "lua"
		}
		out = append(out, source+" "+strings.ToUpper(strings.Trim(name, `"`)))
	}
}

// A token look-up runs the same Redis commands, in one script call, whether
// or not the token matches, so that its timing tells little.
func TestTokenLookupRunsTheSameCommandsForAnyToken(t *testing.T) {
	ctx := t.Context()
	url := testkit.Redis(t)
	c := newClient(t, url)
	prefix := newPrefix(t, c)
	s := redisstore.New(c, prefix)
	inv := seedAcme(t, s)
	lookup := func(tok string, found bool) func() {
		return func() {
			m, err := s.InvitationByToken(ctx, tok)
			if err != nil || m.Found != found || m.Checkpoint != 2 || found && (m.Invitation != inv || m.Organization.Name != "Acme") {
				t.Errorf("InvitationByToken(%s) = %+v, %v", tok, m, err)
			}
		}
	}
	lookup("cd34", false)() // loads the script, whose first EVALSHA fails
	mon := newMonitor(t, url)
	hit := mon.commands(t, c, prefix, lookup("ab12", true))
	miss := mon.commands(t, c, prefix, lookup("cd34", false))
	want := []string{"client EVALSHA", "lua GET", "lua GET", "lua HMGET", "lua GET", "lua GET"}
	if !slices.Equal(hit, want) || !slices.Equal(miss, want) {
		t.Fatalf("a hit runs %v, a miss %v; want %v for both", hit, miss, want)
	}
}

// A token key naming the invitation key of another generation (a damaged
// store, which Keys reports) still finds the invitation's organization.
func TestTokenLookupOutsideTheGeneration(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, testkit.Redis(t))
	prefix, other := newPrefix(t, c), newPrefix(t, c)
	s := redisstore.New(c, prefix)
	inv := seedAcme(t, s)
	if err := c.Copy(ctx, prefix+"inv:{acme}:a", other+"inv:{acme}:a", 0, false).Err(); err != nil {
		t.Fatal(err)
	}
	c.Del(ctx, prefix+"inv:{acme}:a")
	c.Set(ctx, prefix+"tok:ab12", other+"inv:{acme}:a", 0)
	m, err := s.InvitationByToken(ctx, "ab12")
	if err != nil || !m.Found || m.Invitation != inv || m.Organization.Name != "Acme" || m.Checkpoint != 2 {
		t.Fatalf("InvitationByToken = %+v, %v", m, err)
	}
}

// seedAcme stores the organization acme and its invitation a, whose token
// hash is ab12, at positions 1 and 2.
func seedAcme(t *testing.T, s *redisstore.Store) projections.Invitation {
	t.Helper()
	inv := projections.Invitation{Position: 2, Invitation: domain.Invitation{ID: "a", OrganizationID: "acme",
		Email: "ada@example.com", Role: domain.RoleMember, TokenSHA256: "ab12", Version: 1}}
	for _, w := range []projections.Write{
		{Position: 1, Organization: &projections.Organization{ID: "acme", Name: "Acme"}},
		{Position: 2, Invitation: &inv},
	} {
		if err := s.Apply(t.Context(), w); err != nil {
			t.Fatal(err)
		}
	}
	return inv
}
