package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/invitesvc/invitesvc/transport/auth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "invitectl:", err)
		os.Exit(1)
	}
}

var usage = fmt.Sprintf(`Usage: invitectl <command> [flags]

Commands:
  token     mint a token (HS256) from the service's secret: --secret-file FILE --sub USER
            --perm ORG=PERM,... (%s)
  events    print the stream's events, filtered by organization, invitation, type, time or sequence
  history   ORG INVITATION: an invitation's events, each with the invitation's state after it
  state     ORG [--at TIME|SEQUENCE]: an organization as it was at a time or stream sequence
  stats     counts by event type, invitation status and organization; the stream's size
  verify    check the stream (every event decodes, each aggregate's chain is unbroken) and,
            with --redis-url, that the read models in Redis equal a replay; exit 1 on a problem
  rebuild   rebuild the read models in Redis from the stream beside the live ones, then
            switch queries over at once
  erase     --email ADDRESS: erase an address from every organization, through the
            service's API (--url, --token with org.admin everywhere)

Every command but token reads the stream INVITATIONS from --nats-url (default
$INVITECTL_NATS_URL, else $INVITESVC_NATS_URL) with ephemeral consumers and writes
nothing to NATS; only rebuild writes, to Redis, and erase asks the service to. verify and
rebuild refuse a Redis with no read models under the prefix unless --allow-empty. With
--key-encryption-key-file (the service's) they show email addresses, else [sealed]; erased
ones show as [erased]. events, history, state and stats print JSON (one object a line) when
stdout is not a terminal or with --json, an aligned table otherwise; verify prints one
problem a line. See docs/invitectl.md.

Run "invitectl <command> --help" for the flags of a command.
`, strings.Join(auth.Permissions, ", "))

// streamCommands read the stream; they stop on SIGINT or SIGTERM.
var streamCommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"events":  eventsCommand,
	"history": historyCommand,
	"state":   stateCommand,
	"stats":   statsCommand,
	"verify":  verifyCommand,
	"rebuild": rebuildCommand,
	"erase":   eraseCommand,
}

func run(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	if cmd, ok := streamCommands[args[0]]; ok {
		if err := cmd(ctx, args[1:], stdout, stderr); !errors.Is(err, flag.ErrHelp) {
			return err
		}
		return nil
	}
	switch args[0] {
	case "token":
		return tokenCommand(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
