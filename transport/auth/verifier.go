package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/domain"
)

const (
	// MaxTokenBytes bounds the work an unauthenticated caller can cause:
	// larger tokens are refused before any decoding.
	MaxTokenBytes = 8 << 10
	// MinSecretBytes is the HS256 key size RFC 7518 section 3.2 requires.
	MinSecretBytes = 32
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway = 60 * time.Second

	// jwksRefreshWait bounds how long a request with an unknown kid may wait
	// for the rate-limited JWKS re-fetch (the library default is a minute).
	jwksRefreshWait = 10 * time.Second
)

var (
	// ErrInvalidToken wraps every refusal from Verify.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNoKeys means no secret and no JWKS were configured; the caller
	// decides whether to fall back to NewDevVerifier.
	ErrNoKeys = errors.New("auth: no JWT secret or JWKS configured")

	// errNoKey is returned by the keyfunc when nothing configured can verify
	// the token's alg.
	errNoKey = errors.New("no key for algorithm")
)

// allowedAlgs is the complete set of accepted algorithms; everything else,
// alg "none" included, is refused by the parser before any key lookup.
var allowedAlgs = []string{
	jwt.SigningMethodHS256.Alg(),
	jwt.SigningMethodRS256.Alg(),
	jwt.SigningMethodES256.Alg(),
	jwt.SigningMethodEdDSA.Alg(),
}

// Claims is the token payload the service reads and Mint writes.
type Claims struct {
	jwt.RegisteredClaims
	Email          string              `json:"email,omitempty"`
	EmailVerified  *bool               `json:"email_verified,omitempty"`
	Name           string              `json:"name,omitempty"`
	OrgPermissions map[string][]string `json:"org_permissions,omitempty"`
}

// Config selects the verification keys. Any combination of Secret, JWKSFile
// and JWKSURL may be set; Issuer and Audience are checked only when non-empty.
type Config struct {
	Secret   []byte // HS256 shared secret, at least MinSecretBytes
	JWKSFile string // JWKS read once at start
	JWKSURL  string // JWKS fetched at start and refreshed in the background
	Issuer   string
	Audience string
}

// Verifier checks bearer tokens. It is safe for concurrent use.
type Verifier struct {
	secret []byte
	jwks   keyfunc.Keyfunc // nil when no JWKS is configured
	parser *jwt.Parser
}

// NewVerifier builds a Verifier from cfg. It returns ErrNoKeys when nothing is
// configured. With JWKSURL set, the first fetch must succeed, so a wrong URL
// fails at start rather than on every request; ctx ends the background
// refresh.
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if len(cfg.Secret) == 0 && cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		return nil, ErrNoKeys
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: JWT secret must be at least %d bytes", MinSecretBytes)
	}
	v := newVerifier(bytes.Clone(cfg.Secret), cfg.Issuer, cfg.Audience)
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		return v, nil
	}
	jwks, err := loadJWKS(ctx, cfg.JWKSFile, cfg.JWKSURL)
	if err != nil {
		return nil, err
	}
	v.jwks = jwks
	return v, nil
}

// NewDevVerifier returns a verifier for a freshly generated random HS256
// secret, and that secret so the caller can Mint tokens for it. Tokens die
// with the process, which is what dev mode wants.
func NewDevVerifier() (*Verifier, []byte) {
	secret := make([]byte, MinSecretBytes)
	rand.Read(secret) // never fails: crypto/rand crashes the program instead
	return newVerifier(secret, "", ""), bytes.Clone(secret)
}

func newVerifier(secret []byte, issuer, audience string) *Verifier {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(allowedAlgs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
	}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	if audience != "" {
		opts = append(opts, jwt.WithAudience(audience))
	}
	return &Verifier{secret: secret, parser: jwt.NewParser(opts...)}
}

func loadJWKS(ctx context.Context, file, url string) (keyfunc.Keyfunc, error) {
	var fromFile jwkset.Storage
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("auth: read JWKS file: %w", err)
		}
		var set jwkset.JWKSMarshal
		if err := json.Unmarshal(raw, &set); err != nil {
			return nil, fmt.Errorf("auth: parse JWKS file %s: %w", file, err)
		}
		// An empty file is almost certainly a deployment mistake, and would
		// silently refuse every asymmetric token.
		if len(set.Keys) == 0 {
			return nil, fmt.Errorf("auth: JWKS file %s has no keys", file)
		}
		if fromFile, err = set.ToStorage(); err != nil {
			return nil, fmt.Errorf("auth: load JWKS file %s: %w", file, err)
		}
	}
	if url == "" {
		return keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: fromFile})
	}
	failFirst := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		Given:                     fromFile,
		NoErrorReturnFirstHTTPReq: &failFirst,
		HTTPTimeout:               jwksRefreshWait,
		RateLimitWaitMax:          jwksRefreshWait,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: load JWKS URL: %w", err)
	}
	return kf, nil
}

// Verify checks token and returns its principal. Every refusal wraps
// ErrInvalidToken and carries a short reason, never token content.
func (v *Verifier) Verify(token string) (Principal, error) {
	if len(token) > MaxTokenBytes {
		return Principal{}, refuse("token too large")
	}
	var c Claims
	parsed, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return Principal{}, refuse(reason(parsed, err))
	}
	if err := checkSubject(c.Subject); err != nil {
		return Principal{}, refuse(err.Error())
	}
	return Principal{
		Subject:       c.Subject,
		Email:         c.Email,
		EmailVerified: c.EmailVerified,
		Name:          displayName(c.Name),
		Permissions:   c.OrgPermissions,
	}, nil
}

// key picks verification keys by the token's alg family. HMAC only ever gets
// the configured secret and asymmetric algs only ever get JWKS keys of the
// matching type, so a token cannot steer a public key (or an "oct" key in the
// JWKS) into HMAC verification.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok {
		if len(v.secret) == 0 {
			return nil, errNoKey
		}
		return v.secret, nil
	}
	if v.jwks == nil {
		return nil, errNoKey
	}
	found, err := v.jwks.Keyfunc(t)
	if err != nil {
		return nil, err
	}
	set, ok := found.(jwt.VerificationKeySet)
	if !ok {
		// A kid named a single key.
		if !fits(t.Method, found) {
			return nil, errNoKey
		}
		return found, nil
	}
	// No kid: try only the keys that can verify this alg.
	var usable jwt.VerificationKeySet
	for _, k := range set.Keys {
		if fits(t.Method, k) {
			usable.Keys = append(usable.Keys, k)
		}
	}
	if len(usable.Keys) == 0 {
		return nil, errNoKey
	}
	return usable, nil
}

// fits reports whether key is the right type for the asymmetric method. The
// library checks the Go type too; the P-256 check is ours, since ES256 is
// defined only on that curve.
func fits(m jwt.SigningMethod, key any) bool {
	switch m {
	case jwt.SigningMethodRS256:
		_, ok := key.(*rsa.PublicKey)
		return ok
	case jwt.SigningMethodES256:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P256()
	case jwt.SigningMethodEdDSA:
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// reasons maps library errors to fixed messages; the library's own messages
// can include header values such as the kid, which come from the token.
var reasons = []struct {
	err    error
	reason string
}{
	{errNoKey, errNoKey.Error()},
	{jwt.ErrTokenUnverifiable, "no matching key"},
	{jwt.ErrTokenSignatureInvalid, "bad signature"},
	{jwt.ErrTokenRequiredClaimMissing, "missing required claim"},
	{jwt.ErrTokenExpired, "token expired"},
	{jwt.ErrTokenNotValidYet, "token not yet valid"},
	{jwt.ErrTokenInvalidIssuer, "wrong issuer"},
	{jwt.ErrTokenInvalidAudience, "wrong audience"},
}

func reason(t *jwt.Token, err error) string {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return "malformed token"
	}
	// The parser reports a refused alg as a signature or "unverifiable"
	// error; name it properly.
	if t != nil {
		if alg, _ := t.Header["alg"].(string); !slices.Contains(allowedAlgs, alg) {
			return "algorithm not allowed"
		}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "rejected"
}

func refuse(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}

func checkSubject(sub string) error {
	switch {
	case sub == "":
		return errors.New("missing sub")
	case len(sub) > domain.MaxUserIDBytes: // the subject is the caller's user id
		return errors.New("sub too long")
	}
	return nil
}

// Mint signs claims as an HS256 token valid for ttl from now, overriding any
// iat and exp in claims. It is for dev mode, tests and operator tooling; it
// refuses a short secret, an empty or oversized sub and an oversized token,
// which NewVerifier or Verify would reject whatever the configuration.
func Mint(secret []byte, claims Claims, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("auth: JWT secret must be at least %d bytes", MinSecretBytes)
	}
	if ttl <= 0 {
		return "", errors.New("auth: token ttl must be positive")
	}
	if err := checkSubject(claims.Subject); err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	now := time.Now()
	claims.IssuedAt = jwt.NewNumericDate(now)
	claims.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	if len(token) > MaxTokenBytes {
		return "", fmt.Errorf("auth: token exceeds %d bytes", MaxTokenBytes)
	}
	return token, nil
}
