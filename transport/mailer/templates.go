package mailer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"golang.org/x/text/language"

	"github.com/invitesvc/invitesvc/domain"
)

// The parts of an email, each a template file: at the root of the
// templates for the default, under a directory named by a locale (a BCP 47
// tag in canonical form: fr, pt-BR) for its variant.
const (
	subjectFile = "subject.txt" // text/template, one line
	textFile    = "body.txt"    // text/template
	htmlFile    = "body.html"   // html/template: every value escaped for its context
)

//go:embed templates
var embedded embed.FS

// Data is what the templates are given.
type Data struct {
	OrganizationName string
	Role             domain.Role
	// InviterName is the display name of who sent the invitation (the name
	// claim of their token), empty when their token had none.
	InviterName string
	Email       string // the invitee's address
	ExpiresAt   time.Time
	AcceptURL   string
	Locale      string // the invitation's, empty for none
}

// sample is what the templates are tried with when loaded, so that one
// naming a field that does not exist fails at start, not at its first email.
var sample = Data{OrganizationName: "Acme", Role: domain.RoleMember, InviterName: "Grace Hopper", Email: "ada@example.com",
	ExpiresAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), AcceptURL: "https://app.example.com/invite?token=T", Locale: "fr"}

// Templates are the email templates, by locale ("" for the default).
type Templates struct {
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// LoadTemplates reads the embedded templates and, when dir is set, the
// files in dir, each of which replaces the embedded one of the same path
// or adds a locale's part. A part a locale lacks falls back to its parent
// locale's (pt-BR to pt), then to the default.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{subject: map[string]*texttemplate.Template{}, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	root, _ := fs.Sub(embedded, "templates")
	if err := t.read(root, "embedded templates"); err != nil {
		return nil, err
	}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--mail-templates %s: not a directory", dir)
		}
		if err := t.read(os.DirFS(dir), "--mail-templates "+dir); err != nil {
			return nil, err
		}
	}
	for locale := range t.locales() {
		d := sample
		d.Locale = locale
		if _, _, _, err := t.Render(d); err != nil {
			return nil, fmt.Errorf("email templates of locale %q: %w", locale, err)
		}
	}
	return t, nil
}

func (t *Templates) read(fsys fs.FS, from string) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		locale, part := path.Split(p)
		locale = strings.TrimSuffix(locale, "/")
		if strings.Contains(locale, "/") {
			return fmt.Errorf("%s: %s: templates are one directory deep (a locale)", from, p)
		}
		if canonical, ok := domain.NormalizeLocale(locale); locale != "" && (!ok || canonical != locale) {
			return fmt.Errorf("%s: %s: directory %q is not a locale in canonical form (such as fr or pt-BR)", from, p, locale)
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		switch part {
		case subjectFile:
			t.subject[locale], err = texttemplate.New(p).Option("missingkey=error").Parse(string(src))
		case textFile:
			t.text[locale], err = texttemplate.New(p).Option("missingkey=error").Parse(string(src))
		case htmlFile:
			t.html[locale], err = htmltemplate.New(p).Option("missingkey=error").Parse(string(src))
		default:
			return fmt.Errorf("%s: %s: not a template of an email (%s, %s or %s, at the root or in a locale's directory)", from, p, subjectFile, textFile, htmlFile)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		return nil
	})
}

// locales are those with a part of their own, and the default.
func (t *Templates) locales() map[string]bool {
	all := map[string]bool{"": true}
	for l := range t.subject {
		all[l] = true
	}
	for l := range t.text {
		all[l] = true
	}
	for l := range t.html {
		all[l] = true
	}
	return all
}

// fallbacks are the locales tried for locale, most specific first, ending
// with the default.
func fallbacks(locale string) []string {
	var chain []string
	if tag, err := language.Parse(locale); err == nil && locale != "" {
		for ; !tag.IsRoot(); tag = tag.Parent() {
			chain = append(chain, tag.String())
		}
	}
	return append(chain, "")
}

func pick[T any](byLocale map[string]T, locale string) T {
	for _, l := range fallbacks(locale) {
		if v, ok := byLocale[l]; ok {
			return v
		}
	}
	var zero T
	return zero
}

// Render makes the subject, the plain-text and the HTML body of an email.
// The subject is one line: any line break or control character a value
// brings is a space.
func (t *Templates) Render(d Data) (subject, text, html string, err error) {
	var s, x, h bytes.Buffer
	err = errors.Join(
		pick(t.subject, d.Locale).Execute(&s, d),
		pick(t.text, d.Locale).Execute(&x, d),
		pick(t.html, d.Locale).Execute(&h, d))
	if err != nil {
		return "", "", "", err
	}
	return oneLine(s.String()), x.String(), h.String(), nil
}

// oneLine folds every run of spaces and control characters into one space.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}
