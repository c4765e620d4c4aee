package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/invitesvc/invitesvc/client"
)

// Invite two people, then list the pending invitations page by page.
func Example() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses("http://127.0.0.1:8080/api/v1", client.WithBearerToken("ADMIN_TOKEN"))
	if err != nil {
		log.Fatal(err)
	}
	created, err := c.CreateInvitationsWithResponse(ctx, "acme", nil, client.CreateInvitationsInput{
		Emails: []string{"ada@example.com", "bob@example.com"}, Role: new(client.RoleMember)})
	if err != nil {
		log.Fatal(err)
	}
	if created.JSON201 == nil { // an error answer: JSON400, JSON409, ... hold its envelope
		log.Fatalf("%d: %s", created.StatusCode(), created.Body)
	}
	for _, inv := range created.JSON201.Invitations {
		fmt.Println(inv.ID, inv.Email, inv.Status, *inv.Token) // Token is nil on an idempotent replay
	}

	params := &client.ListInvitationsParams{Status: new(client.ListInvitationsParamsStatusPending)}
	for {
		page, err := c.ListInvitationsWithResponse(ctx, "acme", params)
		if err != nil || page.JSON200 == nil {
			log.Fatal(err, page.Status())
		}
		for _, inv := range page.JSON200.Invitations {
			fmt.Println(inv.Email, inv.ExpiresAt)
		}
		if params.StartingAfter, err = page.JSON200.Links.NextPage(); err != nil || params.StartingAfter == nil {
			break
		}
	}
}
