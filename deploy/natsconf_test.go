package deploy_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// TestNATSConfRoles parses nats/nats.conf as nats-server does and checks
// that its users are the roles of transport/eventstore/roles.go, with the
// same permissions, and that it accepts no anonymous client: the
// configuration of an external NATS cannot drift from the embedded one's.
func TestNATSConfRoles(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats1")
	users := setNATSUserKeys(t)
	opts, err := server.ProcessConfigFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if opts.NoAuthUser != "" || len(opts.Users) != 0 || opts.Username != "" || opts.Authorization != "" {
		t.Errorf("nats.conf lets a client in without an nkey: no_auth_user %q, %d users, user %q, token set %v",
			opts.NoAuthUser, len(opts.Users), opts.Username, opts.Authorization != "")
	}
	mailer := []string{"mailer"}
	want := map[string]*server.Permissions{
		users["NATS_SERVICE_NKEY"]: eventstore.ServicePermissions(),
		users["NATS_MAILER_NKEY"]:  eventstore.SubscriberPermissions(mailer),
		users["NATS_AUDITOR_NKEY"]: eventstore.AuditorPermissions(mailer),
	}
	got := map[string]*server.Permissions{}
	for _, u := range opts.Nkeys {
		got[u.Nkey] = u.Permissions
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("nats.conf has the nkey users %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for key, w := range want {
		g := got[key]
		for _, side := range []struct {
			name      string
			got, want *server.SubjectPermission
		}{{"publish", g.Publish, w.Publish}, {"subscribe", g.Subscribe, w.Subscribe}} {
			if !sameSubjects(side.got.Allow, side.want.Allow) || !sameSubjects(side.got.Deny, side.want.Deny) {
				t.Errorf("user %s, %s:\n  nats.conf allow %q deny %q\n  roles.go  allow %q deny %q",
					key, side.name, side.got.Allow, side.got.Deny, side.want.Allow, side.want.Deny)
			}
		}
		if g.Response != nil {
			t.Errorf("user %s has allow_responses, which roles.go does not give", key)
		}
	}
}

// setNATSUserKeys puts in the environment the public keys nats/auth.conf takes
// from there, made for the test, and returns them by variable.
func setNATSUserKeys(t *testing.T) map[string]string {
	t.Helper()
	users := map[string]string{}
	for _, env := range []string{"NATS_SERVICE_NKEY", "NATS_MAILER_NKEY", "NATS_AUDITOR_NKEY"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		if users[env], err = kp.PublicKey(); err != nil {
			t.Fatal(err)
		}
		t.Setenv(env, users[env])
	}
	return users
}

// sameSubjects compares subject lists as sets: order means nothing to NATS.
func sameSubjects(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
