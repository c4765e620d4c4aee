package mailer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/mailer"
)

var data = mailer.Data{OrganizationName: "Acme Corp", Role: domain.RoleAdmin, InviterName: "Grace Hopper", Email: "ada@example.com",
	ExpiresAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), AcceptURL: "https://app.example.com/invite?token=AbC&x=1"}

func TestDefaultTemplates(t *testing.T) {
	tpl, err := mailer.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	subject, text, html, err := tpl.Render(data)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Grace Hopper invited you to join Acme Corp" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"join Acme Corp as admin", data.AcceptURL, "26 November 2026, 09:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, `href="https://app.example.com/invite?token=AbC&amp;x=1"`) || !strings.Contains(html, "<strong>Grace Hopper</strong>") {
		t.Errorf("html:\n%s", html)
	}
	anonymous := data
	anonymous.InviterName = ""
	if subject, _, _, _ := tpl.Render(anonymous); subject != "You are invited to join Acme Corp" {
		t.Errorf("without an inviter: %q", subject)
	}
}

// Values are escaped for HTML, and no value makes the subject two lines.
func TestTemplatesEscape(t *testing.T) {
	tpl, err := mailer.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	d := data
	d.OrganizationName = "Evil\r\nBcc: eve@example.com\r\n<script>alert(1)</script> & Co"
	subject, text, html, err := tpl.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(subject, "\r\n") || subject != "Grace Hopper invited you to join Evil Bcc: eve@example.com <script>alert(1)</script> & Co" {
		t.Errorf("subject %q", subject)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co") {
		t.Errorf("html not escaped:\n%s", html)
	}
	if !strings.Contains(text, "<script>") {
		t.Errorf("the plain text shows the name as it is:\n%s", text)
	}
	d.AcceptURL = "javascript:alert(1)"
	if _, _, html, _ := tpl.Render(d); strings.Contains(html, `href="javascript:`) || !strings.Contains(html, `href="#ZgotmplZ"`) {
		t.Errorf("an unsafe URL reached an href:\n%s", html)
	}
}

func TestTemplateLocales(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("subject.txt", "Join {{.OrganizationName}}")             // replaces the embedded default
	write("pt-BR/subject.txt", "Junte-se a {{.OrganizationName}}") // a locale of the directory only
	tpl, err := mailer.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	for locale, want := range map[string]string{
		"":      "Join Acme Corp",
		"de":    "Join Acme Corp",                       // no variant: the default
		"fr":    "Grace Hopper vous invite à rejoindre", // embedded variant
		"fr-CA": "Grace Hopper vous invite à rejoindre", // its parent's
		"pt-BR": "Junte-se a Acme Corp",
		"pt":    "Join Acme Corp",
	} {
		d := data
		d.Locale = locale
		subject, text, _, err := tpl.Render(d)
		if err != nil || !strings.HasPrefix(subject, want) {
			t.Errorf("locale %q: subject %q, %v; want %q", locale, subject, err, want)
		}
		// pt-BR has a subject of its own and the default body.
		if locale == "pt-BR" && !strings.Contains(text, "Accept the invitation") {
			t.Errorf("pt-BR's body does not fall back to the default:\n%s", text)
		}
	}
}

func TestTemplatesRefused(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"unknown field":       {"body.txt": "{{.Password}}"},
		"syntax":              {"body.html": "{{if}}"},
		"not a template name": {"body.md": "hi"},
		"not a locale":        {"fr_FR/subject.txt": "x"},
		"not canonical":       {"pt-br/subject.txt": "x"},
		"too deep":            {"fr/x/subject.txt": "x"},
	} {
		dir := t.TempDir()
		for p, text := range files {
			_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, p), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := mailer.LoadTemplates(dir); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := mailer.LoadTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory loaded")
	}
}
