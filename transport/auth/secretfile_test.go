package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadSecretFile: one trailing line ending is not part of the secret;
// anything else is, and a secret too short for HS256 is refused.
func TestReadSecretFile(t *testing.T) {
	secret := strings.Repeat("k", MinSecretBytes)
	for content, want := range map[string]string{
		secret:          secret,
		secret + "\n":   secret,
		secret + "\r\n": secret,
		secret + "\n\n": secret + "\n",
		" " + secret:    " " + secret,
	} {
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadSecretFile(path); err != nil || string(got) != want {
			t.Errorf("file %q: secret %q, %v; want %q", content, got, err, want)
		}
	}
	path := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(path, []byte(secret[1:]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a short secret: %v, want an error naming %s", err, path)
	}
}

func TestNewSecretText(t *testing.T) {
	a, b := NewSecretText(), NewSecretText()
	if len(a) != 2*MinSecretBytes || bytes.Equal(a, b) || strings.Trim(string(a), "0123456789abcdef") != "" {
		t.Fatalf("secrets %q, %q: want %d different hex digits each", a, b, 2*MinSecretBytes)
	}
}
