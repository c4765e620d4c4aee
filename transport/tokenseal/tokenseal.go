// Package tokenseal seals an invitation's token for its later delivery, and
// opens it: with age (age-encryption.org/v1) to public recipients, so that
// the events can carry the token (as token_sealed) for a mailer while
// whoever else reads the stream, its backups or a subscriber's copy learns
// nothing from it. Only the holder of a recipient's identity (its private
// key, as age-keygen writes it) can open a sealed token.
//
// What is sealed is an Envelope: the token, the invitation it is for and
// the display name of the user who sent it, which is personal data and
// travels sealed for the same reason.
package tokenseal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/invitesvc/invitesvc/domain"
)

// Envelope is what a sealed token holds.
type Envelope struct {
	InvitationID string `json:"invitation_id"`
	Token        string `json:"token"`
	// InviterName is the name claim of the user who created or resent the
	// invitation, when their token had one.
	InviterName string `json:"inviter_name,omitempty"`
}

// maxSealed bounds what Open reads: an envelope is a few hundred bytes,
// plus about 200 for each recipient's stanza (more for post-quantum ones).
const maxSealed = 64 << 10

// Sealer seals envelopes to a fixed set of recipients.
type Sealer struct {
	recipients []age.Recipient
	names      []string
}

// ParseRecipients reads the recipients of --delivery-recipient: a
// comma-separated list of which each item is an age recipient (age1...) or
// a file of them, one a line as age -R reads it ("#" comments allowed).
func ParseRecipients(list string) (*Sealer, error) {
	s := &Sealer{}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var text string
		if strings.HasPrefix(item, "age1") {
			text = item
		} else {
			b, err := os.ReadFile(item)
			if err != nil {
				return nil, fmt.Errorf("delivery recipient: %w", err)
			}
			text = string(b)
		}
		rs, err := age.ParseRecipients(strings.NewReader(text))
		if err != nil {
			return nil, fmt.Errorf("delivery recipient %s: %w", item, err)
		}
		s.recipients = append(s.recipients, rs...)
		for line := range strings.Lines(text) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				s.names = append(s.names, line)
			}
		}
	}
	if len(s.recipients) == 0 {
		return nil, errors.New("delivery recipient: none given")
	}
	return s, nil
}

// Recipients are the public keys the sealer seals to.
func (s *Sealer) Recipients() []string { return s.names }

// Seal encrypts the envelope of a token to every recipient: standard
// base64 of the binary age file, as token_sealed holds it.
func (s *Sealer) Seal(invitationID, token, inviterName string) (string, error) {
	plain, err := json.Marshal(Envelope{InvitationID: invitationID, Token: token, InviterName: inviterName})
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, s.recipients...)
	if err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("seal token: %w", err)
	}
	return base64.StdEncoding.EncodeToString(out.Bytes()), nil
}

// Opener opens sealed tokens with an age identity.
type Opener struct {
	identities []age.Identity
	// recipient is the first identity's public key.
	recipient string
}

// LoadIdentity reads an identity file, as age-keygen writes it.
func LoadIdentity(path string) (*Opener, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("delivery identity: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("delivery identity %s: %w", path, err)
	}
	return newOpener(ids), nil
}

// LoadOrCreateIdentity reads the identity kept in path, or makes an X25519
// one there (0600, in age-keygen's format), for dev mode.
func LoadOrCreateIdentity(path string) (*Opener, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadIdentity(path)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("delivery identity: %w", err)
	}
	text := fmt.Sprintf("# invitesvc dev mode: the delivery identity; it opens the tokens sealed in this data directory's events\n# public key: %s\n%s\n", id.Recipient(), id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadIdentity(path) // made meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("delivery identity: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return nil, fmt.Errorf("delivery identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("delivery identity: %w", err)
	}
	return newOpener([]age.Identity{id}), nil
}

func newOpener(ids []age.Identity) *Opener {
	o := &Opener{identities: ids}
	switch id := ids[0].(type) {
	case *age.X25519Identity:
		o.recipient = id.Recipient().String()
	case *age.HybridIdentity:
		o.recipient = id.Recipient().String()
	}
	return o
}

// Recipient is the public key of the identity, "" for an identity of a
// kind without one.
func (o *Opener) Recipient() string { return o.recipient }

// Sealer seals to the identity's own public key.
func (o *Opener) Sealer() (*Sealer, error) {
	if o.recipient == "" {
		return nil, errors.New("delivery identity: its kind has no public key to seal to; give --delivery-recipient")
	}
	return ParseRecipients(o.recipient)
}

// ErrNotOpened is a sealed token that does not open with the identity, or
// does not hold the token of the invitation and event it came with.
var ErrNotOpened = errors.New("sealed token does not open")

// Open decrypts a sealed token and checks it is the one of invitationID
// whose SHA-256 the event holds: a sealed token copied into another event
// does not open.
func (o *Opener) Open(sealed, invitationID, tokenSHA256 string) (Envelope, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) > maxSealed {
		return Envelope{}, fmt.Errorf("%w: not base64 of an age file", ErrNotOpened)
	}
	r, err := age.Decrypt(bytes.NewReader(raw), o.identities...)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrNotOpened, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxSealed))
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrNotOpened, err)
	}
	var e Envelope
	if err := json.Unmarshal(plain, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrNotOpened, err)
	}
	if e.InvitationID != invitationID || domain.SHA256(e.Token) != tokenSHA256 {
		return Envelope{}, fmt.Errorf("%w: it holds the token of another invitation or event", ErrNotOpened)
	}
	return e, nil
}
