package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/invitesvc/invitesvc/transport/auth"
)

// permissionsFlag collects --perm ORG=PERM,PERM flags.
type permissionsFlag map[string][]string

func (p permissionsFlag) String() string { return fmt.Sprint(map[string][]string(p)) }

func (p permissionsFlag) Set(v string) error {
	org, perms, ok := strings.Cut(v, "=")
	if !ok || org == "" || perms == "" {
		return errors.New(`want ORG=PERM[,PERM...], e.g. acme=org.read,org.admin or "*=org.read"`)
	}
	p[org] = append(p[org], strings.Split(perms, ",")...)
	return nil
}

func tokenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invitectl token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("INVITESVC_JWT_SECRET"), "HS256 secret (default $INVITESVC_JWT_SECRET)")
	secretFile := fs.String("secret-file", "", "read the secret from this file (e.g. ./data/dev-jwt-secret in dev mode)")
	sub := fs.String("sub", "", "the user id (sub claim); required")
	email := fs.String("email", "", "the user's email")
	unverified := fs.Bool("email-unverified", false, "mark the email as not verified")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	issuer := fs.String("iss", "", "iss claim")
	audience := fs.String("aud", "", "aud claim")
	perms := permissionsFlag{}
	fs.Var(perms, "perm", "ORG=PERM[,PERM...] permissions in an organization (\"*\" for all); repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	key := []byte(*secret)
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		key = b
	}
	if len(key) == 0 {
		return errors.New("give --secret or --secret-file")
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
	return nil
}
