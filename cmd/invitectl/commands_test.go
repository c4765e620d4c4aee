package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/testkit"
)

const (
	invA = "01936f3e-0000-7000-8000-00000000000a" // acme, accepted
	invB = "01936f3e-0000-7000-8000-00000000000b" // acme, cancelled
	invC = "01936f3e-0000-7000-8000-00000000000c" // acme, expired, then resent
	invG = "01936f3e-0000-7000-8000-00000000000d" // globex, pending
)

// scenario is the stream the tests read: two organizations, four invitations.
type scenario struct {
	*fixture
	beforeAccept time.Time // after sequence 10, before 11
	cExpired     time.Time // C is past its expiry and nothing more is written yet
}

func created(org, id, email string, expiresAt time.Time) domain.InvitationCreated {
	return domain.InvitationCreated{OrganizationID: org, InvitationID: id, Email: email, Role: domain.RoleMember,
		TokenSHA256: domain.SHA256("token-" + id), ExpiresAt: expiresAt, Actor: "admin"}
}

func reserved(org, id, email string) domain.EmailReserved {
	return domain.EmailReserved{OrganizationID: org, EmailSHA256: domain.SHA256(email), InvitationID: id, Actor: "admin"}
}

func newScenario(t *testing.T, opts ...func(*jetstream.StreamConfig)) scenario {
	f := newFixture(t, opts...)
	later := time.Now().Add(time.Hour)
	// C expires soon after it is created, with no event: only the time says so.
	cExpiresAt := time.Now().Add(500 * time.Millisecond)
	f.append(t, domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme Corp", Actor: "admin"})       // 1
	f.append(t, domain.OrganizationRegistered{OrganizationID: "globex", Name: "Globex", Actor: "admin"})        // 2
	f.append(t, created("acme", invA, "ada@example.com", later), reserved("acme", invA, "ada@example.com"))     // 3, 4
	f.append(t, created("acme", invB, "bob@example.com", later), reserved("acme", invB, "bob@example.com"))     // 5, 6
	f.append(t, created("acme", invC, "cy@example.com", cExpiresAt), reserved("acme", invC, "cy@example.com"))  // 7, 8
	f.append(t, created("globex", invG, "gus@example.com", later), reserved("globex", invG, "gus@example.com")) // 9, 10
	s := scenario{fixture: f, beforeAccept: time.Now()}
	time.Sleep(time.Until(cExpiresAt) + 10*time.Millisecond)
	s.cExpired = time.Now()
	f.append(t, domain.InvitationAccepted{OrganizationID: "acme", InvitationID: invA, UserID: "user-42", Actor: "user-42"}, // 11
		domain.MembershipAdded{OrganizationID: "acme", UserID: "user-42", Email: "ada@example.com", Role: domain.RoleMember, InvitationID: invA, Actor: "user-42"}) // 12
	f.append(t, domain.InvitationCancelled{OrganizationID: "acme", InvitationID: invB, Actor: "admin"})                                                               // 13
	f.append(t, domain.InvitationExpired{OrganizationID: "acme", InvitationID: invC, Actor: "system"})                                                                // 14
	f.append(t, domain.InvitationResent{OrganizationID: "acme", InvitationID: invC, TokenSHA256: domain.SHA256("token-2-" + invC), ExpiresAt: later, Actor: "admin"}, // 15
		reserved("acme", invC, "cy@example.com")) // 16
	f.append(t, domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme Inc", Actor: "admin"})                    // 17
	f.append(t, domain.MembershipRemoved{OrganizationID: "acme", UserID: "user-42", InvitationID: invA, Actor: "admin"}) // 18
	return s
}

// printedEvent is an events line as a consumer decodes it.
type printedEvent struct {
	Sequence uint64         `json:"sequence"`
	Subject  string         `json:"subject"`
	Time     time.Time      `json:"time"`
	Type     string         `json:"type"`
	Actor    string         `json:"actor"`
	Data     map[string]any `json:"data"`
}

func sequences(t *testing.T, out string) []uint64 {
	var seqs []uint64
	for _, e := range jsonLines[printedEvent](t, out) {
		seqs = append(seqs, e.Sequence)
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var seqs []uint64
	for s := from; s <= to; s++ {
		seqs = append(seqs, s)
	}
	return seqs
}

func TestCommands(t *testing.T) {
	s := newScenario(t)
	rfc := func(tm time.Time) string { return tm.Format(time.RFC3339Nano) }

	t.Run("events filters", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want []uint64
		}{
			{nil, seqRange(1, 18)},
			// No guards and nothing of globex.
			{[]string{"--org", "acme"}, []uint64{1, 3, 5, 7, 11, 12, 13, 14, 15, 17, 18}},
			{[]string{"--org", "acme", "--type", "email.reserved"}, []uint64{4, 6, 8, 16}},
			{[]string{"--org", "globex"}, []uint64{2, 9}},
			{[]string{"--org", "initech"}, nil},
			{[]string{"--org", "acme", "--invitation", invA}, []uint64{3, 11}},
			{[]string{"--org", "acme", "--invitation", invC, "--type", "invitation.resent"}, []uint64{15}},
			{[]string{"--org", "globex", "--invitation", invA}, nil},
			{[]string{"--type", "invitation.created"}, []uint64{3, 5, 7, 9}},
			{[]string{"--since", rfc(s.beforeAccept)}, seqRange(11, 18)},
			{[]string{"--until", rfc(s.beforeAccept)}, seqRange(1, 10)},
			{[]string{"--since", rfc(s.beforeAccept), "--until", rfc(s.cExpired)}, nil},
			{[]string{"--org", "globex", "--since", rfc(s.beforeAccept)}, nil},
			{[]string{"--from-seq", "5", "--to-seq", "8"}, seqRange(5, 8)},
			{[]string{"--org", "globex", "--from-seq", "3"}, []uint64{9}},
			{[]string{"--to-seq", "2"}, []uint64{1, 2}},
			{[]string{"--from-seq", "19"}, nil},
		} {
			got := sequences(t, s.run(t, append([]string{"events"}, c.args...)...))
			if !slices.Equal(got, c.want) {
				t.Errorf("events %v: sequences %v, want %v", c.args, got, c.want)
			}
		}
	})

	t.Run("events JSON lines", func(t *testing.T) {
		events := jsonLines[printedEvent](t, s.run(t, "events", "--org", "acme", "--type", "invitation.accepted"))
		if len(events) != 1 {
			t.Fatalf("%d events, want 1", len(events))
		}
		e := events[0]
		if e.Sequence != 11 || e.Subject != "invitations.acme."+invA+".accepted" || e.Type != domain.TypeInvitationAccepted ||
			e.Actor != "user-42" || !e.Time.Equal(s.written[10].Time) {
			t.Errorf("accepted event printed as %+v", e)
		}
		if e.Data["organization_id"] != "acme" || e.Data["invitation_id"] != invA || e.Data["user_id"] != "user-42" {
			t.Errorf("data %v", e.Data)
		}
	})

	t.Run("events table on a terminal", func(t *testing.T) {
		var out terminal
		if err := run([]string{"events", "--nats-url", s.url, "--org", "acme", "--invitation", invA}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "SEQ TIME TYPE SUBJECT ACTOR" {
			t.Fatalf("table:\n%s", out.String())
		}
		for _, col := range []struct{ header, cell string }{{"TYPE", "invitation."}, {"SUBJECT", "invitations.acme."}, {"ACTOR", "admin"}} {
			at := strings.Index(lines[0], col.header)
			if cell := strings.Index(lines[1], col.cell); cell != at {
				t.Errorf("column %s at %d, its cell at %d:\n%s", col.header, at, cell, out.String())
			}
		}
		if f := strings.Fields(lines[2]); len(f) != 5 || f[0] != "11" || f[2] != domain.TypeInvitationAccepted || f[4] != "user-42" {
			t.Errorf("row %q", lines[2])
		}
		out.Reset()
		if err := run([]string{"events", "--nats-url", s.url, "--to-seq", "1", "--json"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if got := sequences(t, out.String()); !slices.Equal(got, []uint64{1}) {
			t.Errorf("--json on a terminal: %v", got)
		}
	})

	t.Run("history", func(t *testing.T) {
		type step struct {
			Sequence          uint64        `json:"sequence"`
			Type              string        `json:"type"`
			Actor             string        `json:"actor"`
			Status            domain.Status `json:"status"`
			Version           int           `json:"version"`
			ExpiresAt         time.Time     `json:"expires_at"`
			TokenSHA256Prefix string        `json:"token_sha256_prefix"`
		}
		steps := jsonLines[step](t, s.run(t, "history", "acme", invC))
		token1, token2 := domain.SHA256("token-" + invC)[:12], domain.SHA256("token-2-" + invC)[:12]
		want := []step{
			{7, domain.TypeInvitationCreated, "admin", domain.StatusPending, 1, s.written[6].Data.(domain.InvitationCreated).ExpiresAt, token1},
			{14, domain.TypeInvitationExpired, "system", domain.StatusExpired, 2, s.written[6].Data.(domain.InvitationCreated).ExpiresAt, token1},
			{15, domain.TypeInvitationResent, "admin", domain.StatusPending, 3, s.written[14].Data.(domain.InvitationResent).ExpiresAt, token2},
		}
		if len(steps) != len(want) {
			t.Fatalf("history of C: %+v", steps)
		}
		for i := range want {
			if got := steps[i]; got.Sequence != want[i].Sequence || got.Type != want[i].Type || got.Actor != want[i].Actor ||
				got.Status != want[i].Status || got.Version != want[i].Version || !got.ExpiresAt.Equal(want[i].ExpiresAt) ||
				got.TokenSHA256Prefix != want[i].TokenSHA256Prefix {
				t.Errorf("step %d: %+v, want %+v", i, got, want[i])
			}
		}
		// Flags may follow the arguments.
		var statuses []domain.Status
		for _, st := range jsonLines[step](t, s.run(t, "history", "acme", invA, "--json")) {
			statuses = append(statuses, st.Status)
		}
		if !slices.Equal(statuses, []domain.Status{domain.StatusPending, domain.StatusAccepted}) {
			t.Errorf("history of A: %v", statuses)
		}
		for _, args := range [][]string{{"acme", "01936f3e-0000-7000-8000-0000000000ff"}, {"globex", invA}} {
			if out, err := s.try(append([]string{"history"}, args...)...); err == nil || !strings.Contains(err.Error(), "not found") || out != "" {
				t.Errorf("history %v: %q, %v; want not found", args, out, err)
			}
		}
	})

	t.Run("state time travel", func(t *testing.T) {
		type invitation struct {
			ID      string        `json:"id"`
			Email   string        `json:"email"`
			Role    domain.Role   `json:"role"`
			Status  domain.Status `json:"status"`
			Version int           `json:"version"`
		}
		type state struct {
			Organization struct{ ID, Name string } `json:"organization"`
			Invitations  []invitation              `json:"invitations"`
			Members      []struct {
				UserID       string `json:"user_id"`
				Email        string `json:"email"`
				InvitationID string `json:"invitation_id"`
			} `json:"members"`
		}
		stateAt := func(args ...string) state {
			st := jsonLines[state](t, s.run(t, append([]string{"state", "acme"}, args...)...))
			if len(st) != 1 {
				t.Fatalf("state %v: %d objects", args, len(st))
			}
			return st[0]
		}
		summary := func(st state) string {
			var b strings.Builder
			fmt.Fprintf(&b, "%s/%s:", st.Organization.ID, st.Organization.Name)
			for _, i := range st.Invitations {
				fmt.Fprintf(&b, " %s=%s(v%d)", i.Email, i.Status, i.Version)
			}
			for _, m := range st.Members {
				fmt.Fprintf(&b, " member:%s/%s/%s", m.UserID, m.Email, m.InvitationID[len(m.InvitationID)-1:])
			}
			return b.String()
		}
		allPending := "acme/Acme Corp: ada@example.com=pending(v1) bob@example.com=pending(v1) cy@example.com=pending(v1)"
		for _, c := range []struct {
			at   []string
			want string
		}{
			{[]string{"--at", "1"}, "acme/Acme Corp:"},
			{[]string{"--at", "10"}, allPending},
			{[]string{"--at", rfc(s.beforeAccept)}, allPending},
			// C expired by the clock alone: no event says so yet.
			{[]string{"--at", rfc(s.cExpired)}, "acme/Acme Corp: ada@example.com=pending(v1) bob@example.com=pending(v1) cy@example.com=expired(v1)"},
			{[]string{"--at", "12"}, "acme/Acme Corp: ada@example.com=accepted(v2) bob@example.com=pending(v1) cy@example.com=expired(v1) member:user-42/ada@example.com/a"},
			{[]string{"--at", "15"}, "acme/Acme Corp: ada@example.com=accepted(v2) bob@example.com=cancelled(v2) cy@example.com=pending(v3) member:user-42/ada@example.com/a"},
			{nil, "acme/Acme Inc: ada@example.com=accepted(v2) bob@example.com=cancelled(v2) cy@example.com=pending(v3)"},
		} {
			if got := summary(stateAt(c.at...)); got != c.want {
				t.Errorf("state acme %v:\n got %s\nwant %s", c.at, got, c.want)
			}
		}
		if inv := stateAt("--at", "3").Invitations; len(inv) != 1 || inv[0].ID != invA || inv[0].Role != domain.RoleMember {
			t.Errorf("invitations at 3: %+v", inv)
		}
		var out terminal
		if err := run([]string{"state", "--nats-url", s.url, "acme", "--at", "12"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, row := range [][]string{{"acme", "Acme", "Corp"}, {invA, "ada@example.com", "member", "accepted", "2"}, {"user-42", "ada@example.com", "member"}} {
			if !containsRow(out.String(), row) {
				t.Errorf("state table lacks row %v:\n%s", row, out.String())
			}
		}
		for _, args := range [][]string{{"initech"}, {"acme", "--at", "2020-01-01T00:00:00Z"}, {"acme", "--at", "99"}, {"acme", "--at", "yesterday"}} {
			if _, err := s.try(append([]string{"state"}, args...)...); err == nil {
				t.Errorf("state %v: no error", args)
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		var stats struct {
			Stream struct {
				Messages, Bytes, LastSequence uint64
			} `json:"stream"`
			EventsByType         map[string]int        `json:"events_by_type"`
			InvitationsByStatus  map[domain.Status]int `json:"invitations_by_status"`
			EventsByOrganization map[string]int        `json:"events_by_organization"`
		}
		// The URL from the environment, as the flag's default.
		t.Setenv("INVITESVC_NATS_URL", s.url)
		var out terminal
		if err := run([]string{"stats", "--json"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out.Bytes(), &stats); err != nil {
			t.Fatal(err)
		}
		info, err := s.stream.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if stats.Stream.Messages != 18 || stats.Stream.Bytes != info.State.Bytes || stats.Stream.Bytes == 0 {
			t.Errorf("stream %+v, info %+v", stats.Stream, info.State)
		}
		wantTypes := map[string]int{
			domain.TypeOrganizationRegistered: 2, domain.TypeOrganizationRenamed: 1, domain.TypeInvitationCreated: 4,
			domain.TypeEmailReserved: 5, domain.TypeInvitationAccepted: 1, domain.TypeMembershipAdded: 1,
			domain.TypeInvitationCancelled: 1, domain.TypeInvitationExpired: 1, domain.TypeInvitationResent: 1,
			domain.TypeMembershipRemoved: 1,
		}
		if fmt.Sprint(stats.EventsByType) != fmt.Sprint(wantTypes) {
			t.Errorf("by type %v, want %v", stats.EventsByType, wantTypes)
		}
		wantStatus := map[domain.Status]int{domain.StatusPending: 2, domain.StatusAccepted: 1, domain.StatusCancelled: 1}
		if fmt.Sprint(stats.InvitationsByStatus) != fmt.Sprint(wantStatus) {
			t.Errorf("by status %v, want %v", stats.InvitationsByStatus, wantStatus)
		}
		if wantOrgs := map[string]int{"acme": 15, "globex": 3}; fmt.Sprint(stats.EventsByOrganization) != fmt.Sprint(wantOrgs) {
			t.Errorf("by organization %v, want %v", stats.EventsByOrganization, wantOrgs)
		}
		out.Reset()
		if err := run([]string{"stats"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		for _, row := range [][]string{{"INVITATIONS", "18"}, {domain.TypeEmailReserved, "5"}, {"pending", "2"}, {"globex", "3"}} {
			if !containsRow(out.String(), row) {
				t.Errorf("stats table lacks row %v:\n%s", row, out.String())
			}
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		t.Setenv("INVITESVC_NATS_URL", "")
		for _, args := range [][]string{
			{"events", "--invitation", invA},
			{"events", "--org", "acme", "--type", "invitation.approved"},
			{"events", "--org", "acme.*"},
			{"events", "--org", "acme", "--invitation", "*"},
			{"events", "--since", "yesterday"},
			{"events", "--since", rfc(s.cExpired), "--from-seq", "3"},
			{"events", "stray"},
			{"history", "acme"},
			{"history", "acme", "not-a-uuid"},
		} {
			if _, err := s.try(args...); err == nil {
				t.Errorf("%v: no error", args)
			}
		}
		if err := run([]string{"stats"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--nats-url") {
			t.Errorf("no URL: %v", err)
		}
		if err := run([]string{"events", "--help"}, io.Discard, io.Discard); err != nil {
			t.Errorf("--help: %v", err)
		}
	})

	// Every command above read the stream; none may have left a consumer,
	// least of all a durable one.
	if n := s.consumers(t); n != 0 {
		t.Errorf("%d consumers left on the stream", n)
	}
}

// containsRow reports whether a line of a table holds exactly these cells.
func containsRow(table string, cells []string) bool {
	for line := range strings.Lines(table) {
		if f := strings.Fields(line); len(f) >= len(cells) && slices.Equal(f[:len(cells)], cells) {
			return true
		}
	}
	return false
}

func TestEventsFollow(t *testing.T) {
	f := newFixture(t)
	f.append(t, domain.OrganizationRegistered{OrganizationID: "acme", Name: "Acme Corp", Actor: "admin"})
	follow := func(ctx context.Context, args ...string) (*testkit.Buffer, <-chan error) {
		out, done := &testkit.Buffer{}, make(chan error, 1)
		go func() {
			done <- runContext(ctx, append([]string{"events", "--nats-url", f.url, "--follow"}, args...), out, io.Discard)
		}()
		return out, done
	}

	// Until interrupted: the backlog, then new events as they come.
	ctx, cancel := context.WithCancel(t.Context())
	out, done := follow(ctx, "--org", "acme")
	waitFor(t, "the backlog", func() bool { return len(sequences(t, out.String())) == 1 })
	f.append(t, domain.OrganizationRegistered{OrganizationID: "globex", Name: "Globex", Actor: "admin"})
	f.append(t, domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme Inc", Actor: "admin"})
	waitFor(t, "the new event", func() bool { return len(sequences(t, out.String())) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("interrupted follow: %v", err)
	}
	if got := sequences(t, out.String()); !slices.Equal(got, []uint64{1, 3}) {
		t.Errorf("followed %v, want [1 3]", got)
	}

	// Up to --to-seq: it waits for that event, then ends by itself, with no
	// later event to tell it that it is past.
	out, done = follow(t.Context(), "--from-seq", "2", "--to-seq", "4")
	waitFor(t, "the backlog", func() bool { return len(sequences(t, out.String())) == 2 })
	select {
	case err := <-done:
		t.Fatalf("follow ended before --to-seq: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.append(t, domain.OrganizationRenamed{OrganizationID: "acme", Name: "Acme", Actor: "admin"})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not stop at --to-seq")
	}
	if got := sequences(t, out.String()); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Errorf("followed %v, want [2 3 4]", got)
	}
	if n := f.consumers(t); n != 0 {
		t.Errorf("%d consumers left on the stream", n)
	}
}
