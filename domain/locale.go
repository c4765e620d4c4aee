package domain

import "golang.org/x/text/language"

// maxLocale bounds a locale's length: BCP 47 tags in use are far shorter.
const maxLocale = 35

// NormalizeLocale checks a BCP 47 language tag ("fr", "pt-BR") and gives
// its canonical form, which chooses an email template's variant (a file
// name: the form holds letters, digits and hyphens only).
func NormalizeLocale(s string) (string, bool) {
	if s == "" || len(s) > maxLocale {
		return "", false
	}
	tag, err := language.Parse(s)
	if err != nil {
		return "", false
	}
	return tag.String(), true
}
