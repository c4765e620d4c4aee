package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/transport/auth"
)

// maxTokenTTL bounds --ttl: an HS256 token cannot be revoked but by
// changing the secret, which ends every token at once.
const maxTokenTTL = 7 * 24 * time.Hour

// permissionsFlag collects --perm ORG=PERM,PERM flags, refusing what the
// service would not read: an id no organization can have, a permission
// name it does not check.
type permissionsFlag map[string][]string

func (p permissionsFlag) String() string { return fmt.Sprint(map[string][]string(p)) }

func (p permissionsFlag) Set(v string) error {
	org, perms, ok := strings.Cut(v, "=")
	if !ok || org == "" || perms == "" {
		return errors.New(`want ORG=PERM[,PERM...], e.g. acme=org.read,org.admin or "*=org.read"`)
	}
	if org != auth.AnyOrganization && !domain.ValidOrganizationID(org) {
		return fmt.Errorf("%q is not an organization id (or * for every organization)", org)
	}
	for perm := range strings.SplitSeq(perms, ",") {
		if !slices.Contains(auth.Permissions, perm) {
			return fmt.Errorf("%q is not a permission: want %s", perm, strings.Join(auth.Permissions, ", "))
		}
		if !slices.Contains(p[org], perm) {
			p[org] = append(p[org], perm)
		}
	}
	return nil
}

func tokenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invitectl token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: invitectl token --secret-file FILE --sub USER [--perm ORG=PERM,...] [flags]

Mints an HS256 token the service accepts when it runs with the same secret
(--jwt-secret-file FILE or --jwt-secret; in dev mode <data-dir>/dev-jwt-secret).
Permissions: %s.

Flags:
`, strings.Join(auth.Permissions, ", "))
		fs.PrintDefaults()
	}
	secret := fs.String("secret", env("JWT_SECRET"), "HS256 secret (default $INVITECTL_JWT_SECRET, else $INVITESVC_JWT_SECRET)")
	secretFile := fs.String("secret-file", env("JWT_SECRET_FILE"), "read the secret from this file, as the service's --jwt-secret-file (default $INVITECTL_JWT_SECRET_FILE, else $INVITESVC_JWT_SECRET_FILE)")
	sub := fs.String("sub", "", "the user id (sub claim); required")
	email := fs.String("email", "", "the user's email (an invitee accepts with a token naming its address)")
	unverified := fs.Bool("email-unverified", false, "mark the email as not verified")
	ttl := fs.Duration("ttl", time.Hour, fmt.Sprintf("how long the token is valid, at most %s", maxTokenTTL))
	issuer := fs.String("iss", "", "iss claim, as the service's --jwt-issuer")
	audience := fs.String("aud", "", "aud claim, as the service's --jwt-audience")
	perms := permissionsFlag{}
	fs.Var(perms, "perm", "ORG=PERM[,PERM...] permissions in an organization (\"*\" for every one); repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if *sub == "" {
		return errors.New("give --sub, the user id the token is for")
	}
	if *ttl <= 0 || *ttl > maxTokenTTL {
		return fmt.Errorf("--ttl %s: want more than 0 and at most %s", *ttl, maxTokenTTL)
	}
	var key []byte
	switch {
	case *secretFile != "" && *secret != "":
		return errors.New("give --secret or --secret-file, not both")
	case *secretFile != "":
		var err error
		if key, err = auth.ReadSecretFile(*secretFile); err != nil {
			return err
		}
	case *secret != "":
		key = []byte(*secret)
	default:
		return errors.New("give --secret-file (or --secret): the service's JWT secret")
	}
	claims := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: *sub, Issuer: *issuer}, Email: *email}
	if *audience != "" {
		claims.Audience = jwt.ClaimStrings{*audience}
	}
	if *unverified {
		f := false
		claims.EmailVerified = &f
	}
	if len(perms) > 0 {
		claims.OrgPermissions = perms
	}
	token, err := auth.Mint(key, claims, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "invitectl token: %s until %s; %s\n", *sub, time.Now().Add(*ttl).UTC().Format(time.RFC3339), grants(perms))
	return nil
}

// grants says what a token grants, for the person minting it.
func grants(perms permissionsFlag) string {
	if len(perms) == 0 {
		return "no permissions (it can accept an invitation sent to its --email)"
	}
	var parts []string
	for _, org := range slices.Sorted(maps.Keys(perms)) {
		parts = append(parts, org+": "+strings.Join(perms[org], ","))
	}
	return strings.Join(parts, "; ")
}
