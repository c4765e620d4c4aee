package client

import "testing"

func TestNextPage(t *testing.T) {
	for _, tc := range []struct {
		next    *string
		want    string // "" for no next page
		wantErr bool
	}{
		{next: nil},
		{next: new("/api/v1/organizations/acme/invitations?limit=10&starting_after=cDE6MTE%3D"), want: "cDE6MTE="},
		{next: new("/api/v1/organizations/acme/invitations?limit=10"), wantErr: true},
		{next: new("%zz"), wantErr: true},
	} {
		got, err := Links{Next: tc.next}.NextPage()
		if (err != nil) != tc.wantErr || (got == nil) != (tc.want == "") || (got != nil && *got != tc.want) {
			t.Errorf("NextPage of %v: %v, %v; want %q (error %v)", tc.next, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestWithBearerToken(t *testing.T) {
	c, err := NewClient("http://127.0.0.1:1/api/v1", WithBearerToken("t0k"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := NewGetOrganizationRequest(c.Server, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.applyEditors(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer t0k" {
		t.Errorf("Authorization %q", got)
	}
}
