package accepturl_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/transport/accepturl"
)

func TestParse(t *testing.T) {
	const token = "AbC-_0123456789abcdefghijklmnopqrstuvwxyzAB"
	for _, tc := range []struct{ template, link string }{
		{"https://app.example.com/invite?token={token}", "https://app.example.com/invite?token=" + token},
		{"http://127.0.0.1:8080/api/v1/organizations/invitations/{token}", "http://127.0.0.1:8080/api/v1/organizations/invitations/" + token},
		{"https://app.example.com/i/{token}/accept#x", "https://app.example.com/i/" + token + "/accept#x"},
	} {
		tpl, err := accepturl.Parse(tc.template)
		if err != nil {
			t.Fatalf("%s: %v", tc.template, err)
		}
		if got := tpl.For(token); got != tc.link || !tpl.Set() || tpl.String() != tc.template {
			t.Errorf("%s: link %q, want %q", tc.template, got, tc.link)
		}
	}
	for _, bad := range []string{
		"https://app.example.com/invite",                   // no placeholder
		"https://app.example.com/{token}/{token}",          // two
		"app.example.com/invite?token={token}",             // not absolute
		"ftp://app.example.com/{token}",                    // scheme
		"javascript:alert(1)//{token}",                     // scheme
		"https:///invite?token={token}",                    // no host
		"https://{token}.example.com/",                     // token in the host
		"https://user:pw@app.example.com/?t={token}",       // credentials
		"https://app.example.com/a b?t={token}",            // space
		"https://app.example.com/?t={token}\r\nBcc: x@y.z", // line break
		"https://app.example.com/\"><script>?t={token}",    // quotes, brackets
	} {
		if _, err := accepturl.Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var none accepturl.Template
	if tpl, err := accepturl.Parse(""); err != nil || tpl != none || tpl.Set() || tpl.For(token) != "" {
		t.Errorf("the empty template: %+v, %v", tpl, err)
	}
}
