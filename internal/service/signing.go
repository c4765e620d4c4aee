package service

import (
	"path/filepath"

	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// signingKeys are the key the service signs its events with and the public
// keys it verifies them against: its own, and those of the keys it or
// another replica signed with before (Config.VerifyKeys). Dev mode (no
// SigningKey) keeps a key pair in the data directory.
func (c Config) signingKeys() (eventstore.Keys, error) {
	var signer *signing.Signer
	var err error
	if c.SigningKey == "" {
		signer, err = signing.LoadOrCreate(filepath.Join(c.DataDir, "signing"))
	} else {
		signer, err = signing.LoadSigner(c.SigningKey)
	}
	if err != nil {
		return eventstore.Keys{}, err
	}
	keyring, err := signing.LoadKeyring(c.VerifyKeys...)
	if err != nil {
		return eventstore.Keys{}, err
	}
	return eventstore.Keys{Signer: signer, Keyring: keyring.With(signer.Public())}, nil
}
