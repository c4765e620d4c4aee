package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/invitesvc/invitesvc/domain"
)

// eraseCommand erases an address from every organization the stream
// holds. It reads the organizations from the stream, as every command
// does, and asks the service to erase in each (POST .../erasures): the
// erasure is the service's command, with its locks, retries and
// authorization, and the keys it deletes are the service's alone (the
// auditor may not write the key bucket).
func eraseCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newNATSFlags("erase --email ADDRESS --url SERVICE [flags]", stderr)
	email := fs.String("email", "", "the address to erase (any case)")
	service := fs.String("url", os.Getenv("INVITECTL_URL"), "the service's base URL, e.g. http://127.0.0.1:8080 (default $INVITECTL_URL)")
	token := fs.String("token", os.Getenv("INVITECTL_TOKEN"), "bearer token with org.admin in every organization, e.g. invitectl token --sub operator --perm '*=org.admin' (default $INVITECTL_TOKEN)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	address, ok := domain.NormalizeEmail(*email)
	switch {
	case !ok:
		return fmt.Errorf("--email %q is not an address the service accepts", *email)
	case *service == "":
		return errors.New("give --url, the service's base URL, or set INVITECTL_URL")
	case *token == "":
		return errors.New("give --token, a token with org.admin in every organization, or set INVITECTL_TOKEN")
	}
	r, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.close()
	orgs, err := organizations(ctx, r)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 40 * time.Second}
	out := newLines(stdout, true)
	erased := 0
	for _, org := range orgs {
		res, err := eraseIn(ctx, client, strings.TrimSuffix(*service, "/"), *token, org, address)
		if err != nil {
			return errors.Join(fmt.Errorf("organization %s: %w (erased in %d of %d before; erase again: it is idempotent)", org, err, erased, len(orgs)), out.flush())
		}
		erased++
		if err := out.add(res); err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "erase: %d organizations asked\n", len(orgs))
	return nil
}

// erasureLine is what the service answered for one organization.
type erasureLine struct {
	OrganizationID       string   `json:"organization_id"`
	InvitationsCancelled []string `json:"invitations_cancelled"`
	MemberRemoved        *string  `json:"member_removed"`
	KeyDeleted           bool     `json:"key_deleted"`
	ErasedAt             *string  `json:"erased_at"`
}

func eraseIn(ctx context.Context, client *http.Client, base, token, org, address string) (erasureLine, error) {
	line := erasureLine{OrganizationID: org}
	body, _ := json.Marshal(map[string]string{"email": address})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/organizations/"+url.PathEscape(org)+"/erasures", bytes.NewReader(body))
	if err != nil {
		return line, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return line, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return line, err
	}
	if res.StatusCode != http.StatusOK {
		return line, fmt.Errorf("%s: %s", res.Status, bytes.TrimSpace(answer))
	}
	if err := json.Unmarshal(answer, &line); err != nil {
		return line, fmt.Errorf("answer %s: %w", answer, err)
	}
	line.OrganizationID = org
	return line, nil
}

// organizations lists every organization the stream registered.
func organizations(ctx context.Context, r *reader) ([]string, error) {
	var orgs []string
	err := r.read(ctx, query{filters: []string{"organizations.*.registered"}}, func(ev event) error {
		if d, ok := ev.Data.(domain.OrganizationRegistered); ok {
			orgs = append(orgs, d.OrganizationID)
		}
		return nil
	})
	return orgs, err
}
