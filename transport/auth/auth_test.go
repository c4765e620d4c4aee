package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

type testKeyset struct {
	secret   []byte
	rsa      *rsa.PrivateKey // in the JWKS as kid rsa1, alg RS256
	otherRSA *rsa.PrivateKey // never published
	ec       *ecdsa.PrivateKey
	p384     *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	oct      []byte // symmetric key published in the JWKS as kid oct1
}

// RSA generation is slow under -race, so all tests share one set of keys.
var testKeys = sync.OnceValue(func() testKeyset {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var k testKeyset
	var err error
	k.secret = []byte(strings.Repeat("s", MinSecretBytes))
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.oct = []byte(strings.Repeat("o", MinSecretBytes))
	return k
})

// jwksJSON publishes the public keys. Only rsa1 and ed1 carry an alg, so the
// EC keys exercise our own key-type check rather than the library's alg check.
func jwksJSON(t *testing.T, k testKeyset) []byte {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	add := func(key any, kid string, alg jwkset.ALG) {
		jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{
			Marshal:  jwkset.JWKMarshalOptions{Private: true}, // needed for the oct key
			Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatalf("jwk %s: %v", kid, err)
		}
		if err := store.KeyWrite(t.Context(), jwk); err != nil {
			t.Fatal(err)
		}
	}
	add(&k.rsa.PublicKey, "rsa1", jwkset.AlgRS256)
	add(&k.ec.PublicKey, "ec1", "")
	add(&k.p384.PublicKey, "p384", "")
	add(k.ed.Public(), "ed1", jwkset.AlgEdDSA)
	add(k.oct, "oct1", "")
	raw, err := store.JSONPrivate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"p":`) || strings.Contains(string(raw), `"d":`) {
		t.Fatal("test JWKS leaked private key material")
	}
	return raw
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func claims(mods ...func(*Claims)) Claims {
	verified := true
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   "user-42",
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(5 * time.Minute)),
		},
		Email:          "ada@example.com",
		EmailVerified:  &verified,
		OrgPermissions: map[string][]string{"acme": {PermOrgRead, PermOrgAdmin}, "*": {PermOrgRead}},
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func b64(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// handmade builds a token the library would refuse to sign; the signature is
// junk because these tokens must be refused before it is checked.
func handmade(header map[string]any, c any) string {
	return b64(header) + "." + b64(c) + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
}

func rsaPublicPEM(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sizedTokens returns the largest valid HS256 token within MaxTokenBytes and
// the next larger one, so both sides of the limit are tested.
func sizedTokens(t *testing.T, secret []byte) (fits, tooBig string) {
	t.Helper()
	for n := 0; ; n++ {
		tok := sign(t, jwt.SigningMethodHS256, secret, "", claims(func(c *Claims) { c.Email = strings.Repeat("a", n) }))
		if len(tok) > MaxTokenBytes {
			return fits, tok
		}
		fits = tok
	}
}

func newVerifierT(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// checkVerify asserts acceptance (wantReason == "") or the exact refusal.
func checkVerify(t *testing.T, v *Verifier, token, wantSub, wantReason string) Principal {
	t.Helper()
	p, err := v.Verify(token)
	if wantReason == "" {
		if err != nil {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		if p.Subject != wantSub {
			t.Fatalf("Subject = %q, want %q", p.Subject, wantSub)
		}
		return p
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify error = %v, want ErrInvalidToken (%s)", err, wantReason)
	}
	// Exact match also proves no token content leaks into the message.
	if want := "invalid token: " + wantReason; err.Error() != want {
		t.Fatalf("Verify error = %q, want %q", err, want)
	}
	if p.Subject != "" || p.Permissions != nil {
		t.Fatalf("refused token still produced principal %+v", p)
	}
	return p
}

func TestVerify(t *testing.T) {
	k := testKeys()
	file := writeFile(t, jwksJSON(t, k))
	// Hand-written, kid-less, single-key set: tokens without kid are checked
	// only against keys of their alg's type.
	edOnly := writeFile(t, []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"`+
		base64.RawURLEncoding.EncodeToString(k.ed.Public().(ed25519.PublicKey))+`"}]}`))
	verifiers := map[string]*Verifier{
		"secret": newVerifierT(t, Config{Secret: k.secret}),
		"jwks":   newVerifierT(t, Config{JWKSFile: file}),
		"edonly": newVerifierT(t, Config{JWKSFile: edOnly}),
		"both":   newVerifierT(t, Config{Secret: k.secret, JWKSFile: file}),
		"issaud": newVerifierT(t, Config{Secret: k.secret, Issuer: "https://idp.example", Audience: "invitesvc"}),
	}
	now := time.Now()
	fits, tooBig := sizedTokens(t, k.secret)
	validRS := sign(t, jwt.SigningMethodRS256, k.rsa, "rsa1", claims())
	parts := strings.Split(validRS, ".")
	tampered := parts[0] + "." + b64(claims(func(c *Claims) { c.Subject = "root" })) + "." + parts[2]

	tests := []struct {
		name       string
		verifier   string
		token      string
		wantSub    string // expected on acceptance
		wantReason string // "" means the token must be accepted
	}{
		// Accepted.
		{name: "HS256 with secret", verifier: "both", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims()), wantSub: "user-42"},
		{name: "RS256 by kid", verifier: "both", token: validRS, wantSub: "user-42"},
		{name: "RS256 without kid tries matching keys", verifier: "jwks", token: sign(t, jwt.SigningMethodRS256, k.rsa, "", claims()), wantSub: "user-42"},
		{name: "ES256 by kid", verifier: "jwks", token: sign(t, jwt.SigningMethodES256, k.ec, "ec1", claims()), wantSub: "user-42"},
		{name: "ES256 without kid", verifier: "jwks", token: sign(t, jwt.SigningMethodES256, k.ec, "", claims()), wantSub: "user-42"},
		{name: "EdDSA by kid", verifier: "jwks", token: sign(t, jwt.SigningMethodEdDSA, k.ed, "ed1", claims()), wantSub: "user-42"},
		{name: "EdDSA against kid-less hand-written JWKS", verifier: "edonly", token: sign(t, jwt.SigningMethodEdDSA, k.ed, "", claims()), wantSub: "user-42"},
		{name: "expired within leeway", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-30 * time.Second))
		})), wantSub: "user-42"},
		{name: "nbf within leeway", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.NotBefore = jwt.NewNumericDate(now.Add(30 * time.Second))
		})), wantSub: "user-42"},
		{name: "iss and aud ignored when not configured", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Issuer, c.Audience = "https://elsewhere", jwt.ClaimStrings{"someone-else"}
		})), wantSub: "user-42"},
		{name: "iss and aud match when configured", verifier: "issaud", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Issuer, c.Audience = "https://idp.example", jwt.ClaimStrings{"other", "invitesvc"}
		})), wantSub: "user-42"},
		{name: "sub of 255 bytes", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Subject = strings.Repeat("x", 255)
		})), wantSub: strings.Repeat("x", 255)},
		{name: "token at the size limit", verifier: "secret", token: fits, wantSub: "user-42"},

		// Refused: algorithm.
		{name: "alg none", verifier: "both", token: func() string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), wantReason: "algorithm not allowed"},
		{name: "HS512 not allowed", verifier: "both", token: sign(t, jwt.SigningMethodHS512, k.secret, "", claims()), wantReason: "algorithm not allowed"},
		{name: "RS384 not allowed", verifier: "both", token: sign(t, jwt.SigningMethodRS384, k.rsa, "rsa1", claims()), wantReason: "algorithm not allowed"},
		{name: "unknown alg", verifier: "both", token: handmade(map[string]any{"alg": "XYZ", "typ": "JWT"}, claims()), wantReason: "algorithm not allowed"},
		{name: "missing alg", verifier: "both", token: handmade(map[string]any{"typ": "JWT"}, claims()), wantReason: "algorithm not allowed"},

		// Refused: key confusion and key selection.
		{name: "HS256 signed with RSA public key PEM, secret and JWKS", verifier: "both", token: sign(t, jwt.SigningMethodHS256, rsaPublicPEM(t, k.rsa), "rsa1", claims()), wantReason: "bad signature"},
		{name: "HS256 signed with RSA public key PEM, JWKS only", verifier: "jwks", token: sign(t, jwt.SigningMethodHS256, rsaPublicPEM(t, k.rsa), "rsa1", claims()), wantReason: "no key for algorithm"},
		{name: "HS256 signed with oct key from the JWKS", verifier: "both", token: sign(t, jwt.SigningMethodHS256, k.oct, "oct1", claims()), wantReason: "bad signature"},
		{name: "RS256 signed by key not in set, published kid", verifier: "both", token: sign(t, jwt.SigningMethodRS256, k.otherRSA, "rsa1", claims()), wantReason: "bad signature"},
		{name: "RS256 signed by key not in set, no kid", verifier: "both", token: sign(t, jwt.SigningMethodRS256, k.otherRSA, "", claims()), wantReason: "bad signature"},
		{name: "RS256 with unknown kid", verifier: "both", token: sign(t, jwt.SigningMethodRS256, k.otherRSA, "nope", claims()), wantReason: "no matching key"},
		{name: "RS256 naming an EC key", verifier: "both", token: sign(t, jwt.SigningMethodRS256, k.rsa, "ec1", claims()), wantReason: "no key for algorithm"},
		{name: "ES256 naming a P-384 key", verifier: "both", token: handmade(map[string]any{"alg": "ES256", "kid": "p384"}, claims()), wantReason: "no key for algorithm"},
		{name: "RS256 without kid and no RSA key", verifier: "edonly", token: sign(t, jwt.SigningMethodRS256, k.rsa, "", claims()), wantReason: "no key for algorithm"},
		{name: "RS256 without a JWKS", verifier: "secret", token: validRS, wantReason: "no key for algorithm"},

		// Refused: signature.
		{name: "HS256 with another secret", verifier: "both", token: sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "", claims()), wantReason: "bad signature"},
		{name: "RS256 with tampered payload", verifier: "both", token: tampered, wantReason: "bad signature"},

		// Refused: claims.
		{name: "missing exp", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) { c.ExpiresAt = nil })), wantReason: "missing required claim"},
		{name: "expired beyond leeway", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-90 * time.Second))
		})), wantReason: "token expired"},
		{name: "nbf beyond leeway", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.NotBefore = jwt.NewNumericDate(now.Add(90 * time.Second))
		})), wantReason: "token not yet valid"},
		{name: "wrong issuer", verifier: "issaud", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Issuer, c.Audience = "https://evil.example", jwt.ClaimStrings{"invitesvc"}
		})), wantReason: "wrong issuer"},
		{name: "missing issuer when configured", verifier: "issaud", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Audience = jwt.ClaimStrings{"invitesvc"}
		})), wantReason: "missing required claim"},
		{name: "wrong audience", verifier: "issaud", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Issuer, c.Audience = "https://idp.example", jwt.ClaimStrings{"billing"}
		})), wantReason: "wrong audience"},
		{name: "empty sub", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) { c.Subject = "" })), wantReason: "missing sub"},
		{name: "sub over 255 bytes", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
			c.Subject = strings.Repeat("x", 256)
		})), wantReason: "sub too long"},
		{name: "org_permissions of the wrong type", verifier: "secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", jwt.MapClaims{
			"sub": "user-42", "exp": now.Add(time.Minute).Unix(), "org_permissions": []string{"org.admin"},
		}), wantReason: "malformed token"},

		// Refused: shape.
		{name: "oversized but otherwise valid", verifier: "secret", token: tooBig, wantReason: "token too large"},
		{name: "empty token", verifier: "secret", token: "", wantReason: "malformed token"},
		{name: "not a JWT", verifier: "secret", token: "not-a-jwt", wantReason: "malformed token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerify(t, verifiers[tc.verifier], tc.token, tc.wantSub, tc.wantReason)
		})
	}
}

func TestVerifyPrincipalFromClaims(t *testing.T) {
	k := testKeys()
	v := newVerifierT(t, Config{Secret: k.secret})
	p := checkVerify(t, v, sign(t, jwt.SigningMethodHS256, k.secret, "", claims()), "user-42", "")
	if p.Email != "ada@example.com" || p.EmailVerified == nil || !*p.EmailVerified {
		t.Errorf("email = %q verified = %v", p.Email, p.EmailVerified)
	}
	if !p.Can("acme", PermOrgAdmin) || !p.Can("other", PermOrgRead) || p.Can("other", PermOrgAdmin) {
		t.Errorf("permissions not carried over: %v", p.Permissions)
	}

	p = checkVerify(t, v, sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) {
		c.EmailVerified, c.OrgPermissions = nil, nil
	})), "user-42", "")
	if p.EmailVerified != nil || p.Can("acme", PermOrgRead) {
		t.Errorf("absent claims must stay absent: %+v", p)
	}
}

func TestVerifyJWKSURL(t *testing.T) {
	k := testKeys()
	publish := func(kid string, key *rsa.PrivateKey) []byte {
		jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
		})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	var body atomic.Pointer[[]byte]
	// kid url1 is not in the file, so only the URL can vouch for it.
	first := publish("url1", k.rsa)
	body.Store(&first)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(*body.Load())
	}))
	t.Cleanup(srv.Close)

	// The EC key comes from a file alongside the URL: both sources must work.
	file := writeFile(t, jwksJSON(t, k))
	v := newVerifierT(t, Config{JWKSURL: srv.URL, JWKSFile: file})
	if fetches.Load() != 1 {
		t.Fatalf("JWKS fetched %d times at start, want 1", fetches.Load())
	}

	steps := []struct {
		name       string
		rotate     bool // publish otherRSA as rsa2 before this step
		token      string
		wantReason string
	}{
		{name: "RS256 from URL", token: sign(t, jwt.SigningMethodRS256, k.rsa, "url1", claims())},
		{name: "ES256 from file", token: sign(t, jwt.SigningMethodES256, k.ec, "ec1", claims())},
		{name: "HS256 refused without secret", token: sign(t, jwt.SigningMethodHS256, k.secret, "", claims()), wantReason: "no key for algorithm"},
		{name: "unknown kid refetches and finds rotated key", rotate: true, token: sign(t, jwt.SigningMethodRS256, k.otherRSA, "rsa2", claims())},
		{name: "key dropped by rotation is refused", token: sign(t, jwt.SigningMethodRS256, k.rsa, "url1", claims()), wantReason: "no matching key"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.rotate {
				rotated := publish("rsa2", k.otherRSA)
				body.Store(&rotated)
			}
			checkVerify(t, v, s.token, "user-42", s.wantReason)
		})
	}
}

func TestNewVerifierConfig(t *testing.T) {
	k := testKeys()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)

	tests := []struct {
		name      string
		cfg       Config
		wantErr   bool
		wantNoKey bool
	}{
		{name: "nothing configured", cfg: Config{Issuer: "x", Audience: "y"}, wantErr: true, wantNoKey: true},
		{name: "empty secret counts as none", cfg: Config{Secret: []byte{}}, wantErr: true, wantNoKey: true},
		{name: "short secret", cfg: Config{Secret: []byte("short")}, wantErr: true},
		{name: "secret only", cfg: Config{Secret: k.secret}},
		{name: "missing JWKS file", cfg: Config{JWKSFile: filepath.Join(t.TempDir(), "absent.json")}, wantErr: true},
		{name: "JWKS file not JSON", cfg: Config{JWKSFile: writeFile(t, []byte("nope"))}, wantErr: true},
		{name: "JWKS file without keys", cfg: Config{JWKSFile: writeFile(t, []byte(`{"keys":[]}`))}, wantErr: true},
		{name: "JWKS file with a bad key", cfg: Config{JWKSFile: writeFile(t, []byte(`{"keys":[{"kty":"RSA","kid":"a","n":"!","e":"AQAB"}]}`))}, wantErr: true},
		{name: "JWKS URL failing at start", cfg: Config{Secret: k.secret, JWKSURL: failing.URL}, wantErr: true},
		{name: "JWKS URL not a URL", cfg: Config{JWKSURL: "::"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(t.Context(), tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if errors.Is(err, ErrNoKeys) != tc.wantNoKey {
				t.Fatalf("errors.Is(err, ErrNoKeys) = %v, want %v (err %v)", !tc.wantNoKey, tc.wantNoKey, err)
			}
			if (v == nil) != tc.wantErr {
				t.Fatalf("verifier = %v with err %v", v, err)
			}
		})
	}
}

func TestNewVerifierCopiesSecret(t *testing.T) {
	secret := []byte(strings.Repeat("k", MinSecretBytes))
	v := newVerifierT(t, Config{Secret: secret})
	token := sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", MinSecretBytes)), "", claims())
	secret[0] = 'X' // the caller reusing its buffer must not change the verifier's key
	checkVerify(t, v, token, "user-42", "")
}

func TestDevVerifierAndMint(t *testing.T) {
	v, secret := NewDevVerifier()
	if len(secret) < MinSecretBytes {
		t.Fatalf("dev secret is %d bytes", len(secret))
	}
	token, err := Mint(secret, claims(func(c *Claims) { c.ExpiresAt = nil }), time.Hour)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	p := checkVerify(t, v, token, "user-42", "")
	if !p.Can("acme", PermOrgAdmin) {
		t.Errorf("minted permissions lost: %v", p.Permissions)
	}

	var got Claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &got); err != nil {
		t.Fatal(err)
	}
	if exp := time.Until(got.ExpiresAt.Time); exp < 59*time.Minute || exp > time.Hour {
		t.Errorf("exp in %v, want about 1h", exp)
	}
	if got.IssuedAt == nil {
		t.Error("Mint did not set iat")
	}

	secret[0] ^= 0xff // the returned secret is a copy
	checkVerify(t, v, token, "user-42", "")

	other, _ := NewDevVerifier()
	checkVerify(t, other, token, "", "bad signature")
}

func TestMintRefuses(t *testing.T) {
	secret := testKeys().secret
	tests := []struct {
		name   string
		secret []byte
		claims Claims
		ttl    time.Duration
	}{
		{name: "short secret", secret: secret[:MinSecretBytes-1], claims: claims(), ttl: time.Minute},
		{name: "zero ttl", secret: secret, claims: claims(), ttl: 0},
		{name: "negative ttl", secret: secret, claims: claims(), ttl: -time.Minute},
		{name: "empty sub", secret: secret, claims: claims(func(c *Claims) { c.Subject = "" }), ttl: time.Minute},
		{name: "oversized token", secret: secret, claims: claims(func(c *Claims) { c.Email = strings.Repeat("a", MaxTokenBytes) }), ttl: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if token, err := Mint(tc.secret, tc.claims, tc.ttl); err == nil {
				t.Fatalf("Mint succeeded: %d-byte token", len(token))
			}
		})
	}
}

func TestCan(t *testing.T) {
	p := Principal{Permissions: map[string][]string{
		"acme":   {PermOrgRead, PermOrgUserRead, PermOrgUserInvite},
		"globex": {PermOrgUserInvite},
		"*":      {PermOrgRead, PermOrgAdmin},
	}}
	tests := []struct {
		name  string
		p     Principal
		org   string
		perms []string
		want  bool
	}{
		{name: "granted in org", p: p, org: "acme", perms: []string{PermOrgUserRead}, want: true},
		{name: "all granted in org", p: p, org: "acme", perms: []string{PermOrgRead, PermOrgUserRead, PermOrgUserInvite}, want: true},
		{name: "granted by wildcard only", p: p, org: "initech", perms: []string{PermOrgAdmin}, want: true},
		{name: "split between org and wildcard", p: p, org: "globex", perms: []string{PermOrgUserInvite, PermOrgAdmin}, want: true},
		{name: "org grant does not leak to other org", p: p, org: "initech", perms: []string{PermOrgUserInvite}, want: false},
		{name: "one of several missing", p: p, org: "initech", perms: []string{PermOrgRead, PermOrgUserRead}, want: false},
		{name: "no perms asked fails closed", p: p, org: "acme", want: false},
		{name: "empty org fails closed", p: p, org: "", perms: []string{PermOrgRead}, want: false},
		{name: "no permissions claim", p: Principal{Subject: "u"}, org: "acme", perms: []string{PermOrgRead}, want: false},
		{name: "org-only principal", p: Principal{Permissions: map[string][]string{"acme": {PermOrgAdmin}}}, org: "globex", perms: []string{PermOrgAdmin}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Can(tc.org, tc.perms...); got != tc.want {
				t.Fatalf("Can(%q, %v) = %v, want %v", tc.org, tc.perms, got, tc.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string // Authorization header values
		want    string
		wantOK  bool
	}{
		{name: "canonical", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi", wantOK: true},
		{name: "lower-case scheme", headers: []string{"bearer abc"}, want: "abc", wantOK: true},
		{name: "upper-case scheme", headers: []string{"BEARER abc"}, want: "abc", wantOK: true},
		{name: "several spaces", headers: []string{"Bearer   abc"}, want: "abc", wantOK: true},
		{name: "no header"},
		{name: "empty header", headers: []string{""}},
		{name: "scheme only", headers: []string{"Bearer"}},
		{name: "scheme and space", headers: []string{"Bearer "}},
		{name: "two tokens", headers: []string{"Bearer abc def"}},
		{name: "other scheme", headers: []string{"Basic dXNlcjpwYXNz"}},
		{name: "scheme glued to token", headers: []string{"Bearerabc"}},
		{name: "token only", headers: []string{"abc.def.ghi"}},
		{name: "two headers", headers: []string{"Bearer abc", "Bearer def"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, ok := BearerToken(r)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("BearerToken = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// The name claim is kept as a display name: one line, bounded, and absent
// when the token has none.
func TestVerifyName(t *testing.T) {
	k := testKeys()
	v := newVerifierT(t, Config{Secret: k.secret})
	for claim, want := range map[string]string{
		"":                                   "",
		"Grace Hopper":                       "Grace Hopper",
		"  Grace\r\nBcc: eve@example.com\t ": "Grace Bcc: eve@example.com",
		"Ada\x00\x1b[31mLovelace":            "Ada [31mLovelace",
		strings.Repeat("é", 150):             strings.Repeat("é", 100),
		"<b>Bold</b> & \"quoted\"":           "<b>Bold</b> & \"quoted\"",
		"bad \xff utf-8":                     "bad \uFFFD utf-8", // as JSON carries it
	} {
		p := checkVerify(t, v, sign(t, jwt.SigningMethodHS256, k.secret, "", claims(func(c *Claims) { c.Name = claim })), "user-42", "")
		if p.Name != want {
			t.Errorf("name claim %q: %q, want %q", claim, p.Name, want)
		}
	}
}
