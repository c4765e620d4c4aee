package keystore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KEKBytes is the size of a key-encryption key: AES-256.
const KEKBytes = 32

// KEK is a key-encryption key: it wraps every key the bucket holds, so
// that the bucket's files and its backups open nothing without it.
type KEK struct {
	id   string
	aead cipher.AEAD
}

// ID names the KEK in each wrapping it made, without revealing it: the
// first 8 bytes of a SHA-256 of the key, in hex.
func (k *KEK) ID() string { return k.id }

// ParseKEK reads a KEK written as 32 bytes in hex or base64 (standard or
// URL alphabet, padded or not), surrounding white space ignored.
func ParseKEK(text []byte) (*KEK, error) {
	s := string(bytes.TrimSpace(text))
	var key []byte
	if b, err := hex.DecodeString(s); err == nil {
		key = b
	} else {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				key = b
				break
			}
		}
	}
	if len(key) != KEKBytes {
		return nil, fmt.Errorf("a key-encryption key is %d random bytes in hex or base64 (openssl rand -hex %d); this is not", KEKBytes, KEKBytes)
	}
	return newKEK(key)
}

func newKEK(key []byte) (*KEK, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("invitesvc key-encryption key id\x00"), key...))
	return &KEK{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// LoadKEK reads the KEK in the file at path.
func LoadKEK(path string) (*KEK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	k, err := ParseKEK(b)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKEK reads the KEK at path, or draws one and writes it there
// (mode 0600, in hex): dev mode's, kept beside the data it opens.
func LoadOrCreateKEK(path string) (*KEK, error) {
	k, err := LoadKEK(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	key := make([]byte, KEKBytes)
	_, _ = rand.Read(key) // crypto/rand.Read never fails
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keep the key-encryption key: %w", err)
	}
	return newKEK(key)
}

// newAEAD is AES-256-GCM under key. Its nonces are drawn at random: a key
// seals a handful of messages, far from GCM's bound of 2^32 random nonces.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain under aead with ad, the nonce first.
func seal(aead cipher.AEAD, plain, ad []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, ad)
}

// open decrypts what seal made.
func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed value too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
}

// Wrap seals plain under the KEK, bound to ad: for the stores of other
// secrets that the KEK guards (the webhooks' signing secrets).
func (k *KEK) Wrap(plain, ad []byte) []byte { return seal(k.aead, plain, ad) }

// Unwrap opens what Wrap sealed with the same ad.
func (k *KEK) Unwrap(sealed, ad []byte) ([]byte, error) { return open(k.aead, sealed, ad) }
