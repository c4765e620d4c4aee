package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
)

// ReadSecretFile reads an HS256 secret kept in a file: its bytes less one
// trailing line ending, the one `openssl rand -hex 32 > file` or an editor
// leaves. The service and invitectl both read secret files with it, so a
// token minted from a file verifies against the same file.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("the JWT secret in %s has %d bytes, want at least %d", path, len(b), MinSecretBytes)
	}
	return b, nil
}

// NewSecretText is a new random HS256 secret as text (the hex of 32 random
// bytes), to keep in a file that a person may also cat or paste.
func NewSecretText() []byte {
	raw := make([]byte, MinSecretBytes)
	rand.Read(raw) // never fails: crypto/rand crashes the program instead
	return []byte(hex.EncodeToString(raw))
}
