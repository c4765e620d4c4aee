package service_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/invitesvc/invitesvc/client"
	"github.com/invitesvc/invitesvc/internal/service"
)

// TestGeneratedClientWalkthrough follows the README's walk-through with the
// generated Go client (package client), on both read stores, and checks
// that the typed answers carry their fields: what a generator that drops
// parts of the document would lose. Every exchange is also checked
// against the OpenAPI document, as stack.do does.
func TestGeneratedClientWalkthrough(t *testing.T) {
	stores(t, func(t *testing.T, newStack func(...func(*service.Config)) *stack) {
		s := newStack()
		ctx := t.Context()
		admin, anyone := s.client(s.admin), s.client("")
		ada := s.client(s.invitee("user-42", "ada@example.com"))

		registered := answer(admin.PutOrganizationWithResponse(ctx, "acme", nil, client.OrganizationInput{Name: "Acme Corp"}))(t)
		if o := registered.JSON201; o == nil || o.ID != "acme" || o.Name != "Acme Corp" || o.CreatedAt.IsZero() {
			t.Fatalf("register: %d %s", registered.StatusCode(), registered.Body)
		}

		// Invite two; the same request with the same key is a replay, without tokens.
		key := client.IdempotencyKey("first-invite")
		invite := client.CreateInvitationsInput{Emails: []string{"ada@example.com", "bob@example.com"},
			Role: new(client.RoleMember), ExpiresIn: new(client.ExpiresIn("3d"))}
		created := answer(admin.CreateInvitationsWithResponse(ctx, "acme", &client.CreateInvitationsParams{IdempotencyKey: &key}, invite))(t)
		if created.JSON201 == nil || len(created.JSON201.Invitations) != 2 {
			t.Fatalf("create: %d %s", created.StatusCode(), created.Body)
		}
		invited := created.JSON201.Invitations
		for i, inv := range invited {
			if inv.ID == uuid.Nil || emailOf(inv.Email) != invite.Emails[i] || inv.Status != client.InvitationStatusPending ||
				inv.Role != client.RoleMember || inv.Version != 1 || inv.Expired || inv.Token == nil || len(*inv.Token) != 43 ||
				inv.Organization.ID != "acme" || inv.CreatedBy != "admin-1" || inv.ExpiresAt.Sub(inv.CreatedAt).Round(time.Hour) != 72*time.Hour {
				t.Fatalf("created invitation %d decodes to %+v", i, inv)
			}
		}
		adaInv, bobInv := invited[0], invited[1]
		replay := answer(admin.CreateInvitationsWithResponse(ctx, "acme", &client.CreateInvitationsParams{IdempotencyKey: &key}, invite))(t)
		if replay.JSON201 == nil || replay.Headers201 == nil || replay.Headers201.IdempotentReplayed == nil || *replay.Headers201.IdempotentReplayed != "true" {
			t.Fatalf("replay: %d %s", replay.StatusCode(), replay.Body)
		}
		for i, inv := range replay.JSON201.Invitations {
			if inv.ID != invited[i].ID || inv.Token != nil {
				t.Errorf("replayed invitation %d: %+v", i, inv)
			}
		}

		// The invitee looks the invitation up by its token, without authentication, and accepts it.
		looked := answer(anyone.GetInvitationByTokenWithResponse(ctx, *adaInv.Token, nil))(t)
		if l := looked.JSON200; l == nil || l.ID != adaInv.ID || emailOf(l.Email) != "ada@example.com" || l.Token != *adaInv.Token || l.Status != client.InvitationStatusPending || l.Version != 1 {
			t.Fatalf("look-up: %d %s", looked.StatusCode(), looked.Body)
		}
		accepted := answer(ada.AcceptInvitationByTokenWithResponse(ctx, *adaInv.Token, nil))(t)
		if a := accepted.JSON200; a == nil || a.Organization.ID != "acme" || a.Organization.Name != "Acme Corp" || a.Membership.UserID != "user-42" ||
			emailOf(a.Membership.Email) != "ada@example.com" || a.Membership.Role != client.RoleMember || a.Membership.InvitationID != adaInv.ID || a.Membership.JoinedAt.IsZero() {
			t.Fatalf("accept: %d %s", accepted.StatusCode(), accepted.Body)
		}
		after := answer(anyone.GetInvitationByTokenWithResponse(ctx, *adaInv.Token, nil))(t)
		if l := after.JSON200; l == nil || l.Status != client.InvitationStatusAccepted || l.AcceptedBy == nil || *l.AcceptedBy != "user-42" || l.AcceptedAt == nil || l.Version != 2 {
			t.Fatalf("accepted invitation reads %d %s", after.StatusCode(), after.Body)
		}
		// A failure is typed as the error envelope, its code one of the document's.
		mismatch := answer(ada.AcceptInvitationByTokenWithResponse(ctx, *bobInv.Token, nil))(t)
		if e := mismatch.JSON403; e == nil || len(e.Errors) != 1 || e.Errors[0].Code != client.OrganizationInvitationEmailMismatch || e.Errors[0].Message == "" {
			t.Fatalf("accepting bob's invitation as ada: %d %s", mismatch.StatusCode(), mismatch.Body)
		}

		// Pending invitations page by page: bob and eleven more, ten a page, following links.next.
		var more []string
		for i := range 11 {
			more = append(more, fmt.Sprintf("c%02d@example.com", i))
		}
		answer(admin.CreateInvitationsWithResponse(ctx, "acme", nil, client.CreateInvitationsInput{Emails: more}))(t)
		var pages [][]client.Invitation
		params := &client.ListInvitationsParams{Status: new(client.ListInvitationsParamsStatusPending), Limit: new(10)}
		for {
			page := answer(admin.ListInvitationsWithResponse(ctx, "acme", params))(t)
			if page.JSON200 == nil || len(pages) > 2 {
				t.Fatalf("list page %d: %d %s", len(pages), page.StatusCode(), page.Body)
			}
			pages = append(pages, page.JSON200.Invitations)
			next, err := page.JSON200.Links.NextPage()
			if err != nil {
				t.Fatal(err)
			}
			if next == nil {
				if len(pages) > 1 && page.JSON200.Links.Prev == nil {
					t.Error("the last page has no links.prev")
				}
				break
			}
			params.StartingAfter = next
		}
		var pendingEmails []string
		for _, page := range pages {
			for _, inv := range page {
				if inv.Status != client.InvitationStatusPending || inv.ID == uuid.Nil {
					t.Errorf("listed as pending: %+v", inv)
				}
				pendingEmails = append(pendingEmails, emailOf(inv.Email))
			}
		}
		slices.Sort(pendingEmails)
		if want := append([]string{"bob@example.com"}, more...); len(pages) != 2 || len(pages[0]) != 10 || !slices.Equal(pendingEmails, slices.Sorted(slices.Values(want))) {
			t.Fatalf("%d pages, pending %v", len(pages), pendingEmails)
		}

		members := answer(admin.ListMembersWithResponse(ctx, "acme", nil))(t)
		if m := members.JSON200; m == nil || len(m.Members) != 1 || m.Members[0].UserID != "user-42" || emailOf(m.Members[0].Email) != "ada@example.com" || m.Members[0].InvitationID != adaInv.ID {
			t.Fatalf("members: %d %s", members.StatusCode(), members.Body)
		}

		// Cancel bob's invitation: its token stops working, and its history says so.
		if cancelled := answer(admin.CancelInvitationWithResponse(ctx, "acme", bobInv.ID, nil))(t); cancelled.StatusCode() != http.StatusNoContent {
			t.Fatalf("cancel: %d %s", cancelled.StatusCode(), cancelled.Body)
		}
		gone := answer(anyone.GetInvitationByTokenWithResponse(ctx, *bobInv.Token, nil))(t)
		if e := gone.JSON404; e == nil || len(e.Errors) != 1 || e.Errors[0].Code != client.OrganizationInvitationNotFound || e.Errors[0].Fields == nil || !slices.Equal(*e.Errors[0].Fields, []string{"invitation_token"}) {
			t.Fatalf("cancelled token: %d %s", gone.StatusCode(), gone.Body)
		}
		history := answer(admin.ListInvitationEventsWithResponse(ctx, "acme", bobInv.ID, nil))(t)
		if h := history.JSON200; h == nil || len(h.Events) != 2 || h.Events[0].Type != client.InvitationCreated || h.Events[1].Type != client.InvitationCancelled {
			t.Fatalf("history: %d %s", history.StatusCode(), history.Body)
		}
		createdData, err := history.JSON200.Events[0].Data.AsInvitationCreatedData()
		if err != nil || createdData.InvitationID != bobInv.ID || createdData.Email != "bob@example.com" || len(createdData.TokenSha256) != 64 {
			t.Errorf("invitation.created data %+v (%v)", createdData, err)
		}
		cancelData, err := history.JSON200.Events[1].Data.AsInvitationCancelledData()
		if err != nil || cancelData.InvitationID != bobInv.ID || cancelData.Actor != "admin-1" || history.JSON200.Events[1].Sequence <= history.JSON200.Events[0].Sequence {
			t.Errorf("invitation.cancelled data %+v (%v)", cancelData, err)
		}

		// The organization's audit feed, filtered by type.
		feed := answer(admin.ListOrganizationEventsWithResponse(ctx, "acme", &client.ListOrganizationEventsParams{Type: new(client.InvitationAccepted)}))(t)
		if f := feed.JSON200; f == nil || len(f.Events) != 1 {
			t.Fatalf("audit feed: %d %s", feed.StatusCode(), feed.Body)
		}
		if d, err := feed.JSON200.Events[0].Data.AsInvitationAcceptedData(); err != nil || d.UserID != "user-42" || d.InvitationID != adaInv.ID {
			t.Errorf("invitation.accepted data %+v (%v)", d, err)
		}
	})
}

// client is the generated client against the stack, sending token (none
// when empty) and checking every exchange against the OpenAPI document.
func (s *stack) client(token string) *client.ClientWithResponses {
	s.t.Helper()
	opts := []client.ClientOption{client.WithHTTPClient(contractChecked{s})}
	if token != "" {
		opts = append(opts, client.WithBearerToken(token))
	}
	c, err := client.NewClientWithResponses(s.http.URL+"/api/v1", opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// contractChecked sends a request and checks the exchange against the
// OpenAPI document.
type contractChecked struct{ s *stack }

func (c contractChecked) Do(req *http.Request) (*http.Response, error) {
	var sent []byte
	if req.Body != nil {
		var err error
		if sent, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(sent))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	c.s.checkContract(req, sent, res, raw)
	res.Body = io.NopCloser(bytes.NewReader(raw))
	return res, nil
}

// answer is a call's answer, for the test to fail on the call's error:
// answer(c.GetXWithResponse(...))(t).
func answer[R any](r R, err error) func(*testing.T) R {
	return func(t *testing.T) R {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

// emailOf is the address an answer shows; "" once erased (null).
func emailOf(e *client.Email) string {
	if e == nil {
		return ""
	}
	return *e
}
