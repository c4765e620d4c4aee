package domain_test

import (
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/domain"
)

// lookalikes are addresses that render like an ASCII one, or that
// Unicode case folding or compatibility normalization turns into it, with
// the ASCII address each imitates.
var lookalikes = []struct{ name, email, ascii string }{
	{"KELVIN SIGN U+212A for K", "\u212aate@corp.test", "kate@corp.test"},
	{"LATIN SMALL LETTER LONG S U+017F for s", "\u017fam@corp.test", "sam@corp.test"},
	{"dotless i U+0131 for i", "k\u0131m@x.test", "kim@x.test"},
	{"capital I with dot U+0130 for I", "\u0130nga@x.test", "inga@x.test"},
	{"full-width k U+FF4B", "\uff4bate@corp.test", "kate@corp.test"},
	{"full-width K U+FF2B", "\uff2bATE@corp.test", "kate@corp.test"},
	{"Cyrillic a U+0430", "k\u0430te@corp.test", "kate@corp.test"},
	{"Greek omicron U+03BF", "b\u03bfb@corp.test", "bob@corp.test"},
	{"KELVIN SIGN in the domain", "kate@corp.tes\u212a", "kate@corp.tesk"},
	{"full-width c in the domain", "kate@\uff43orp.test", "kate@corp.test"},
	{"Cyrillic o in the domain", "kate@c\u043erp.test", "kate@corp.test"},
	{"ligature fi U+FB01", "\ufb01nn@x.test", "finn@x.test"},
	{"zero width space U+200B", "kate\u200b@corp.test", "kate@corp.test"},
	{"soft hyphen U+00AD", "ka\u00adte@corp.test", "kate@corp.test"},
}

func TestNormalizeEmailNeverGivesTheASCIIAddressForALookalike(t *testing.T) {
	for _, l := range lookalikes {
		got, ok := domain.NormalizeEmail(l.email)
		if ok && got == l.ascii {
			t.Errorf("%s: %q is stored as %q", l.name, l.email, got)
		}
		if ok && !strings.ContainsFunc(got, func(r rune) bool { return r > 0x7f }) && !strings.Contains(got, "xn--") {
			t.Errorf("%s: %q is stored as %q, an ASCII address", l.name, l.email, got)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 64)
	label := strings.Repeat("d", 63)
	tests := []struct{ in, want string }{ // want "" means refused
		{"ada@example.com", "ada@example.com"},
		{"KATE@Corp.Test", "kate@corp.test"},
		{"Ada.Lovelace+tag@Example.COM", "ada.lovelace+tag@example.com"},
		// Internationalized: NFC, ASCII letters folded only, domain as its A-label.
		{"J\u00f6RG@B\u00fccher.Example", "j\u00f6rg@xn--bcher-kva.example"},
		{"jo\u0308rg@bu\u0308cher.example", "j\u00f6rg@xn--bcher-kva.example"}, // decomposed: the same address
		{"\u00c9lodie@x.test", "\u00c9lodie@x.test"},                           // É is not ASCII: kept
		{"W\u030a@x.test", "\u1e98@x.test"},                                    // lower-case w composes with the ring
		{"kate@xn--bcher-kva.example", "kate@xn--bcher-kva.example"},
		{"kate@XN--BCHER-KVA.EXAMPLE", "kate@xn--bcher-kva.example"},
		{"\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a", "\u7528\u6237@xn--fsqu00a.xn--4rr70v"},
		{"k\u0131m@x.test", "k\u0131m@x.test"},
		{"k\u0430te@corp.test", "k\u0430te@corp.test"},
		// Characters normalization would replace, and invisible ones.
		{"\u212aate@corp.test", ""},
		{"\u017fam@corp.test", ""},
		{"\uff4bate@corp.test", ""},
		{"\u212bngstr\u00f6m@x.test", ""}, // ANGSTROM SIGN, canonically Å
		{"a\u037e@x.test", ""},            // GREEK QUESTION MARK, canonically ';'
		{"a\u202e@x.test", ""},
		{"a\u00a0@x.test", ""},
		{"a\u2028@x.test", ""},
		{"a\u0085@x.test", ""},
		{"a\ue000@x.test", ""},
		{"\ufffd\ufffd@x.test", ""},
		{"\xff\xfe@x.test", ""},
		// Domains: a hostname with two labels or more, in registration form.
		{"kate@B\u00dcCHER.example", ""}, // upper-case Ü: lookup would map it, registration refuses
		{"a@[127.0.0.1]", ""},
		{"a@[IPv6:::1]", ""},
		{"a@127.0.0.1", ""},
		{"a@x.123", ""},
		{"a@x.test.", ""},
		{"a@x_y.test", ""},
		{"a@-x.test", ""},
		{"a@xn--a.test", ""},
		{"ada@localhost", ""},
		// Syntax and lengths (octets).
		{long + "@x.test", long + "@x.test"},
		{long + "a@x.test", ""},
		{strings.Repeat("\u00e9", 32) + "@x.test", strings.Repeat("\u00e9", 32) + "@x.test"},
		{strings.Repeat("\u00e9", 33) + "@x.test", ""}, // 66 octets
		{"a@" + label + "." + label + "." + label + "." + strings.Repeat("d", 59) + ".t", ""},
		{"a@" + label + "." + label + "." + label + "." + strings.Repeat("d", 57) + ".t", "a@" + label + "." + label + "." + label + "." + strings.Repeat("d", 57) + ".t"},
		{"a@" + strings.Repeat("d", 64) + ".test", ""},
		{"\"a b\"@example.com", ""},
		{"\"ab\"@example.com", ""},
		{"Ada <ada@example.com>", ""},
		{"ada(comment)@example.com", ""},
		{" ada@example.com", ""},
		{"ada", ""},
		{"@example.com", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := domain.NormalizeEmail(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
		if len(got) > domain.MaxEmailBytes {
			t.Errorf("NormalizeEmail(%q) = %q, %d octets", tt.in, got, len(got))
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{ // want "" means refused
		{"  Acme Corp ", "Acme Corp"},
		{"Caf\u0065\u0301", "Caf\u00e9"}, // NFC
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}, // ZWNJ in Persian
		{"Family \U0001F468\u200d\U0001F469\u200d\U0001F467", "Family \U0001F468\u200d\U0001F469\u200d\U0001F467"},
		{"Acme\n", "Acme"}, // trimmed, as any white space at the ends
		{strings.Repeat("\u00e9", 200), strings.Repeat("\u00e9", 200)},
		{"In\u0000put\u202e\n<script>", ""},
		{"In\u0000put", ""},
		{"evil\u202egnp.exe", ""}, // RIGHT-TO-LEFT OVERRIDE
		{"a\u2066b\u2069", ""},    // isolates
		{"two\nlines", ""},
		{"two\u2028lines", ""},
		{"two\u2029paragraphs", ""},
		{"zero\u200bwidth", ""},
		{"bom\ufeff", ""},
		{"private\ue000", ""},
		{"bad\xffbyte", ""},
		{"   ", ""},
		{strings.Repeat("\u00e9", 201), ""},
	}
	for _, tt := range tests {
		got, ok := domain.NormalizeName(tt.in)
		if ok != (tt.want != "") || (ok && got != tt.want) {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestValidOrganizationID(t *testing.T) {
	for in, want := range map[string]bool{"acme": true, "a": true, "0193-x_y": true, "Invitations": true, "invitations-eu": true,
		"invitations": false, "-acme": false, "a.b": false, "": false, "a*": false, strings.Repeat("a", 65): false} {
		if got := domain.ValidOrganizationID(in); got != want {
			t.Errorf("ValidOrganizationID(%q)=%v, want %v", in, got, want)
		}
	}
}

func TestNormalizeLocale(t *testing.T) {
	for in, want := range map[string]string{"fr": "fr", "pt-br": "pt-BR", "EN-gb": "en-GB", "zh-Hant-TW": "zh-Hant-TW"} {
		if got, ok := domain.NormalizeLocale(in); !ok || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "../../etc/passwd", "fr/../x", "not a locale", "x-" + strings.Repeat("a", 40), "fr\r\nBcc: x"} {
		if got, ok := domain.NormalizeLocale(bad); ok {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}
