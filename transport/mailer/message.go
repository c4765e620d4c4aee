package mailer

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
)

// messageID is the Message-ID of the email an event asked for: the same
// for every attempt and every mailer, so that a receiving server can tell
// a duplicate (a crash between its acceptance and the record may send one).
func messageID(eventID, from string) string {
	domain := "invitesvc.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok {
			domain = d
		}
	}
	return "invitation." + eventID + "@" + domain
}

// compose makes the email. go-mail writes every header: a value cannot
// add one (the subject is one line, and encoded as RFC 2047 words when not
// ASCII). A part in ASCII is sent as it is (marked 8bit: go-mail encodes
// a part marked 7bit as quoted-printable all the same), readable in the
// outbox; one that is not, as quoted-printable.
func compose(from, to, id, subject, text, html string, at time.Time) (*gomail.Msg, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", from, err)
	}
	if err := m.To(to); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	m.Subject(subject)
	m.SetMessageIDWithValue(id)
	m.SetDateWithValue(at)
	m.SetBodyString(gomail.TypeTextPlain, text, gomail.WithPartEncoding(encodingOf(text)))
	m.AddAlternativeString(gomail.TypeTextHTML, html, gomail.WithPartEncoding(encodingOf(html)))
	return m, nil
}

// encodingOf leaves ASCII text with lines SMTP carries as they are
// unencoded, and makes anything else quoted-printable.
func encodingOf(s string) gomail.Encoding {
	for line := range strings.Lines(s) {
		if len(line) > 900 {
			return gomail.EncodingQP
		}
	}
	for _, r := range s {
		if r > unicode.MaxASCII || (r < ' ' && r != '\n' && r != '\r' && r != '\t') {
			return gomail.EncodingQP
		}
	}
	return gomail.NoEncoding
}
