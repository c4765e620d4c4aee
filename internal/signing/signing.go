// Package signing signs the events the service appends and verifies them
// with public keys alone: Ed25519, each key named by an id derived from it
// so that a keyring can hold the keys of every rotation.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The NATS headers of a stored event that carry its signature.
const (
	KeyIDHeader     = "Invitesvc-Key-Id"
	SignatureHeader = "Invitesvc-Signature"
)

var (
	// ErrUnsigned is an event without a key id or signature.
	ErrUnsigned = errors.New("event is not signed")
	// ErrUnknownKey is an event signed with a key not in the keyring.
	ErrUnknownKey = errors.New("event is signed with an unknown key")
	// ErrBadSignature is an event whose signature does not match it.
	ErrBadSignature = errors.New("event signature does not verify")
)

// KeyID names a public key: the first 16 hex characters of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])[:16]
}

// message is what is signed: the subject is part of it, so that a signed
// event cannot be moved to another subject.
func message(subject string, data []byte) []byte {
	m := make([]byte, 0, len(subject)+1+len(data))
	m = append(m, subject...)
	m = append(m, '\n')
	return append(m, data...)
}

// Signer signs with one private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner signs with key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// Generate makes a signer with a fresh key.
func Generate() (*Signer, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewSigner(key), nil
}

// Sign signs data stored on subject.
func (s *Signer) Sign(subject string, data []byte) (keyID string, sig []byte) {
	return s.id, ed25519.Sign(s.key, message(subject, data))
}

// Public is the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID names the signer's key.
func (s *Signer) KeyID() string { return s.id }

// Keyring holds the public keys events are verified against, by id. It is
// not changed after it is built, so it is safe for concurrent use.
type Keyring struct {
	keys map[string]ed25519.PublicKey
}

// NewKeyring holds keys.
func NewKeyring(keys ...ed25519.PublicKey) *Keyring {
	k := &Keyring{keys: map[string]ed25519.PublicKey{}}
	for _, pub := range keys {
		k.keys[KeyID(pub)] = pub
	}
	return k
}

// With is a keyring holding k's keys and keys.
func (k *Keyring) With(keys ...ed25519.PublicKey) *Keyring {
	all := NewKeyring(keys...)
	for id, pub := range k.keys {
		all.keys[id] = pub
	}
	return all
}

// Verify checks that sig, by the key named keyID, signs data on subject.
func (k *Keyring) Verify(subject string, data []byte, keyID string, sig []byte) error {
	if keyID == "" || len(sig) == 0 {
		return ErrUnsigned
	}
	pub, ok := k.keys[keyID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	if !ed25519.Verify(pub, message(subject, data), sig) {
		return fmt.Errorf("%w (key %s)", ErrBadSignature, keyID)
	}
	return nil
}

// EncodeSignature is a signature as its header carries it: base64url
// without padding.
func EncodeSignature(sig []byte) string { return base64.RawURLEncoding.EncodeToString(sig) }

// DecodeSignature reads a signature header; an absent or malformed one is
// nil, which does not verify.
func DecodeSignature(header string) []byte {
	sig, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil || len(sig) == 0 {
		return nil
	}
	return sig
}

// MarshalPrivateKey is key as a PKCS#8 PEM block.
func MarshalPrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey is pub as a PKIX PEM block.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func readPEM(path, blockType string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != blockType {
		return nil, fmt.Errorf("%s: no %s PEM block", path, blockType)
	}
	return block.Bytes, nil
}

// LoadSigner reads a PKCS#8 PEM Ed25519 private key.
func LoadSigner(path string) (*Signer, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return NewSigner(ed), nil
}

// LoadPublicKey reads a PKIX PEM Ed25519 public key.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ed, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return ed, nil
}

// LoadKeyring reads the public keys in paths.
func LoadKeyring(paths ...string) (*Keyring, error) {
	keys := make([]ed25519.PublicKey, len(paths))
	for i, p := range paths {
		var err error
		if keys[i], err = LoadPublicKey(p); err != nil {
			return nil, err
		}
	}
	return NewKeyring(keys...), nil
}

// LoadOrCreate reads the dev-mode key pair in dir, signing.key (private,
// 0600) and signing.pub, making it on the first start.
func LoadOrCreate(dir string) (*Signer, error) {
	keyPath := filepath.Join(dir, "signing.key")
	if s, err := LoadSigner(keyPath); err == nil || !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	s, err := Generate()
	if err != nil {
		return nil, err
	}
	private, err := MarshalPrivateKey(s.key)
	if err != nil {
		return nil, err
	}
	public, err := MarshalPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "signing.pub"), public, 0o644); err != nil {
		return nil, err
	}
	// Written last, so that a key on disk always has its public key beside it.
	if err := os.WriteFile(keyPath, private, 0o600); err != nil {
		return nil, err
	}
	return s, nil
}
