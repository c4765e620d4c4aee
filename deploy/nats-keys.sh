#!/usr/bin/env bash
# nats-keys.sh DIR: makes the nkeys of the NATS users in nats/auth.conf, once.
#
#   DIR/service.nk, DIR/mailer.nk, DIR/auditor.nk   the seeds (mode 0600): give each to its
#                                                   client only (invitesvc --nats-nkey, the
#                                                   team's nats --nkey, invitectl --nats-nkey)
#   DIR/nats.env                                    the public keys, for the NATS servers:
#                                                   NATS_SERVICE_NKEY=U... and so on
#   DIR/signing.key                                 the Ed25519 key every invitesvc replica
#                                                   signs events with (--signing-key); they
#                                                   must share it to verify each other's
#   DIR/key-encryption-key                          the key every replica wraps the keys of
#                                                   personal data with
#                                                   (--key-encryption-key-file); back it up
#   DIR/delivery-identity                           the age identity the mailer opens the
#                                                   invitations' sealed tokens with
#                                                   (--delivery-identity-file): whoever holds
#                                                   it can read live tokens from the stream
#
# Existing keys are kept; nats.env is written from them. Needs openssl, and go (it runs nk
# and age-keygen from the modules this repository requires) or nk and age-keygen on the PATH.
set -euo pipefail

[[ $# -eq 1 ]] || { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
DIR=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# run TOOL PACKAGE ARGS...: TOOL from the PATH, else PACKAGE at the version go.mod requires.
run() {
	local tool=$1 package=$2
	shift 2
	if command -v "$tool" >/dev/null 2>&1; then
		command "$tool" "$@"
	else
		(cd "$REPO" && go run "$package" "$@")
	fi
}
run_nk() { run nk github.com/nats-io/nkeys/nk "$@"; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd) # nk may run from the repository
umask 077
: >"$DIR/nats.env.tmp"
for user in service mailer auditor; do
	seed=$DIR/$user.nk
	if [[ ! -s $seed ]]; then
		run_nk -gen user >"$seed.tmp"
		mv "$seed.tmp" "$seed"
	fi
	public=$(run_nk -inkey "$seed" -pubout)
	[[ $public == U* ]] || { echo "nats-keys: $seed: no user key ($public)" >&2; exit 1; }
	printf 'NATS_%s_NKEY=%s\n' "${user^^}" "$public" >>"$DIR/nats.env.tmp"
done
mv "$DIR/nats.env.tmp" "$DIR/nats.env"
if [[ ! -s $DIR/signing.key ]]; then
	openssl genpkey -algorithm ed25519 -out "$DIR/signing.key.tmp"
	mv "$DIR/signing.key.tmp" "$DIR/signing.key"
fi
if [[ ! -s $DIR/key-encryption-key ]]; then
	openssl rand -hex 32 >"$DIR/key-encryption-key.tmp"
	mv "$DIR/key-encryption-key.tmp" "$DIR/key-encryption-key"
fi
if [[ ! -s $DIR/delivery-identity ]]; then
	run age-keygen filippo.io/age/cmd/age-keygen -o "$DIR/delivery-identity.tmp" 2>/dev/null
	mv "$DIR/delivery-identity.tmp" "$DIR/delivery-identity"
fi
echo "nats-keys: seeds, $DIR/nats.env, $DIR/signing.key, $DIR/key-encryption-key and $DIR/delivery-identity written" >&2
