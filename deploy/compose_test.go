package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// TestComposeFileLoads reads compose.yaml with compose-go, the loader and
// schema docker compose itself uses, and checks what a replica needs: every
// setting naming a file under /run/secrets is a secret the replica is given,
// and every secret's file is one nats-keys.sh writes (or the README's
// jwt-secret), so that `docker compose up` after the README's steps finds
// them all.
func TestComposeFileLoads(t *testing.T) {
	env := []string{"NATS_SERVICE_NKEY=UA", "NATS_MAILER_NKEY=UB", "NATS_AUDITOR_NKEY=UC", "INVITESVC_JWT_SECRET=" + strings.Repeat("s", 32)}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithEnv(env), cli.WithName("invitesvc"), cli.WithProfiles([]string{"tools"}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker compose would refuse compose.yaml: %v", err)
	}
	script, err := os.ReadFile("nats-keys.sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range project.Secrets {
		file := filepath.Base(secret.File)
		if !strings.Contains(string(script), `$DIR/`+file) && !strings.Contains(string(script), `$DIR/$user.nk`) {
			t.Errorf("secret %s is %s, which deploy/nats-keys.sh does not write", name, file)
		}
	}
	secretPath := regexp.MustCompile(`^/run/secrets/([a-z0-9_]+)$`)
	replicas := 0
	for _, service := range project.Services {
		if !strings.HasPrefix(service.Name, "invitesvc") {
			continue
		}
		replicas++
		given := map[string]bool{}
		for _, s := range service.Secrets {
			given[s.Source] = true
			if s.UID != "65532" || s.Mode == nil || *s.Mode != 0o400 {
				t.Errorf("%s: secret %s is not given to uid 65532 alone (uid %q, mode %v)", service.Name, s.Source, s.UID, s.Mode)
			}
		}
		for key, value := range service.Environment {
			if value == nil {
				continue
			}
			if m := secretPath.FindStringSubmatch(*value); m != nil && !given[m[1]] {
				t.Errorf("%s: %s=%s, a secret it is not given", service.Name, key, *value)
			}
		}
		if service.Name == "invitectl" {
			continue
		}
		for _, must := range []string{"INVITESVC_DELIVERY_IDENTITY_FILE", "INVITESVC_SMTP_URL", "INVITESVC_MAIL_FROM", "INVITESVC_ACCEPT_URL", "INVITESVC_KEY_ENCRYPTION_KEY_FILE", "INVITESVC_SIGNING_KEY"} {
			if v := service.Environment[must]; v == nil || *v == "" {
				t.Errorf("%s: %s is not set", service.Name, must)
			}
		}
	}
	if replicas != 2 {
		t.Errorf("%d invitesvc replicas, want 2", replicas)
	}
}
