//go:build unix

package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/auth"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

const api = "/api/v1/organizations"

var allPermissions = []string{auth.PermOrgRead, auth.PermOrgUserRead, auth.PermOrgUserInvite, auth.PermOrgAdmin}

// TestLocalCluster brings up deploy/local-cluster.sh's topology (three NATS nodes, Redis
// with AOF, two replicas) and checks what the deployment promises: read-your-writes across
// replicas, an R3 stream spread over the three nodes, exactly the stream that
// k8s/stream-invitations.json defines, Redis persistence, writes surviving the loss of the
// stream leader's node, and down stopping every process.
func TestLocalCluster(t *testing.T) {
	c := upLocalCluster(t)
	a, b := c.env["INVITESVC_A"], c.env["INVITESVC_B"]
	admin := c.token(t, "deploy-admin", "admin@example.com", map[string][]string{auth.AnyOrganization: allPermissions})

	// Write on A, read on B with no wait in between, accept on B, read back on A.
	call(t, "PUT", a+api+"/acme", admin, map[string]any{"name": "Acme Corp"}, http.StatusCreated)
	created := call(t, "POST", a+api+"/acme/invitations", admin,
		map[string]any{"emails": []string{"ada@example.com"}, "role": "member"}, http.StatusCreated)
	inv := first(t, created, "invitations")
	id, secret := str(inv, "id"), str(inv, "token")
	if id == "" || secret == "" {
		t.Fatalf("create answered no id or token: %v", created)
	}
	// One replica's mailer writes Ada's email, with the link of her token, to its outbox.
	email := testkit.ParseMail(t, waitForEmail(t, strings.Split(c.env["OUTBOXES"], ","), id))
	if link := str(inv, "accept_url"); !strings.Contains(link, secret) || !strings.Contains(email.Text, link) || email.Header.Get("To") != "<ada@example.com>" {
		t.Errorf("the email of invitation %s is not Ada's with the accept link %q: %+v", id, link, email)
	}
	got := call(t, "GET", b+api+"/acme/invitations/"+id, admin, nil, http.StatusOK)
	if str(got, "status") != "pending" || str(got, "email") != "ada@example.com" {
		t.Fatalf("replica B reads the invitation A just created as %v", got)
	}
	if got := call(t, "GET", b+api+"/invitations/"+secret, "", nil, http.StatusOK); str(got, "id") != id {
		t.Fatalf("replica B looks the token up as invitation %q, want %q", str(got, "id"), id)
	}
	invitee := c.token(t, "user-ada", "ada@example.com", nil)
	accepted := call(t, "POST", b+api+"/invitations/"+secret+"/_accept", invitee, nil, http.StatusOK)
	if m, _ := accepted["membership"].(map[string]any); str(m, "user_id") != "user-ada" {
		t.Fatalf("accept on B answered %v, want a membership of user-ada", accepted)
	}
	if got := call(t, "GET", a+api+"/acme/invitations/"+id, admin, nil, http.StatusOK); str(got, "status") != "accepted" {
		t.Fatalf("replica A reads %q after B accepted", str(got, "status"))
	}
	members := call(t, "GET", a+api+"/acme/members", admin, nil, http.StatusOK)
	if m := first(t, members, "members"); str(m, "user_id") != "user-ada" {
		t.Fatalf("replica A lists members %v, want user-ada", members)
	}

	// The stream: three replicas on three distinct nodes, holding the events.
	js := c.jetStream(t)
	info := streamInfo(t, js)
	if info.Config.Replicas != 3 {
		t.Fatalf("stream %s has %d replicas, want 3", eventstore.StreamName, info.Config.Replicas)
	}
	nodes := streamNodes(t, info)
	if info.State.Msgs < 4 {
		t.Errorf("stream holds %d events after a registration, a create and an accept", info.State.Msgs)
	}

	// k8s/stream-invitations.json is the stream the service created: applying it changes nothing.
	var def jetstream.StreamConfig
	readJSON(t, "k8s/stream-invitations.json", &def)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	updated, err := js.UpdateStream(ctx, def)
	if err != nil {
		t.Fatalf("applying k8s/stream-invitations.json to the running stream: %v", err)
	}
	before, after := info.Config, updated.CachedInfo().Config
	before.Metadata, after.Metadata = nil, nil
	if diff := configDiff(before, after); diff != "" {
		t.Errorf("applying k8s/stream-invitations.json changes the stream the service created: %s", diff)
	}

	// Redis keeps an append-only file, and holds the read models.
	opts, err := redis.ParseURL(c.env["REDIS_URL"])
	if err != nil {
		t.Fatalf("REDIS_URL in DIR/env: %v", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if cfg, err := rdb.ConfigGet(ctx, "appendonly").Result(); err != nil || cfg["appendonly"] != "yes" {
		t.Errorf("redis appendonly = %q (%v), want yes", cfg["appendonly"], err)
	}
	if keys, err := rdb.Keys(ctx, "invitesvc:*").Result(); err != nil || len(keys) == 0 {
		t.Errorf("no invitesvc:* keys in Redis (%v): the replicas do not keep their read models there", err)
	}

	// The config files the compose file mounts are valid for the nats-server this cluster runs.
	checkNATSConfig(t, c.env["NATS_SERVER_BIN"])

	// Lose the stream leader's node: writes go on through the two others, and both
	// replicas find their way to them (the URL lists every node).
	leader := info.Cluster.Leader
	pid := c.pids[leader]
	if pid == 0 {
		t.Fatalf("stream leader %q is not among the nodes in DIR/pids %v", leader, c.pids)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill node %s: %v", leader, err)
	}
	t.Logf("killed NATS node %s (pid %d), the stream leader", leader, pid)
	start := time.Now()
	body := map[string]any{"emails": []string{"grace@example.com"}}
	var afterLoss map[string]any
	eventually(t, 60*time.Second, "a create on A after losing the stream leader", func() (bool, string) {
		status, res := try("POST", a+api+"/acme/invitations", admin, body, "Idempotency-Key", "after-node-loss")
		afterLoss = res
		return status == http.StatusCreated, fmt.Sprintf("status %d: %v", status, res)
	})
	t.Logf("writes resumed %v after the node loss", time.Since(start).Round(time.Millisecond))
	graceID := str(first(t, afterLoss, "invitations"), "id")
	call(t, "GET", b+api+"/acme/invitations/"+graceID, admin, nil, http.StatusOK)
	for _, r := range []string{a, b} {
		eventually(t, 30*time.Second, r+"/readyz after the node loss", func() (bool, string) {
			status, res := try("GET", r+"/readyz", "", nil)
			return status == http.StatusOK, fmt.Sprintf("status %d: %v", status, res)
		})
	}
	info = streamInfo(t, c.jetStream(t))
	if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == leader || !slices.Contains(nodes, info.Cluster.Leader) {
		t.Errorf("after losing %s the stream has replicas %d and cluster %+v: want 3 and a new leader among %v",
			leader, info.Config.Replicas, info.Cluster, nodes)
	}

	// down stops every process it started, including the one already gone.
	c.down(t)
	for name, pid := range c.pids {
		if running(pid) {
			t.Errorf("%s (pid %d) still runs after down", name, pid)
		}
	}
	for _, u := range []string{a, b} {
		if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after down", u)
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir, "pids")); !os.IsNotExist(err) {
		t.Errorf("DIR/pids is still there after down (%v)", err)
	}
}

// TestStreamDefinition checks k8s/stream-invitations.json against the stream the service
// creates with three replicas, field by field (-1 there is the server's "no limit", which
// the service leaves at zero).
func TestStreamDefinition(t *testing.T) {
	var def jetstream.StreamConfig
	readJSON(t, "k8s/stream-invitations.json", &def)
	if def.MaxConsumers == -1 {
		def.MaxConsumers = 0
	}
	if def.MaxMsgsPerSubject == -1 {
		def.MaxMsgsPerSubject = 0
	}
	if def.MaxMsgSize == -1 {
		def.MaxMsgSize = 0
	}
	if diff := configDiff(eventstore.StreamConfig(3), def); diff != "" {
		t.Errorf("k8s/stream-invitations.json differs from eventstore.StreamConfig(3): %s", diff)
	}
}

// configDiff lists the JSON fields in which two stream configurations differ, as
// "field: a -> b", or is empty when they are equal.
func configDiff(a, b jetstream.StreamConfig) string {
	fields := func(c jetstream.StreamConfig) map[string]any {
		raw, _ := json.Marshal(c)
		m := map[string]any{}
		_ = json.Unmarshal(raw, &m)
		return m
	}
	ma, mb := fields(a), fields(b)
	var diffs []string
	for k := range ma {
		if _, ok := mb[k]; !ok {
			mb[k] = nil
		}
	}
	for k, vb := range mb {
		if va := ma[k]; !reflect.DeepEqual(va, vb) {
			diffs = append(diffs, fmt.Sprintf("%s: %v -> %v", k, va, vb))
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "; ")
}

// TestDeploySettingsAreFlags checks that every INVITESVC_* variable the deployment files
// set names a flag of cmd/invitesvc: a misspelt one would be silently ignored.
func TestDeploySettingsAreFlags(t *testing.T) {
	flags := invitesvcFlags(t)
	files := []string{"Dockerfile", "compose.yaml", "local-cluster.sh"}
	k8s, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(k8s) == 0 {
		t.Fatalf("no k8s/*.yaml (%v)", err)
	}
	files = append(files, k8s...)
	setting := regexp.MustCompile(`\bINVITESVC_([A-Z0-9_]+)\b`)
	seen := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range setting.FindAllStringSubmatch(string(raw), -1) {
			name := strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
			switch {
			case m[1] == "VERSION" && f == "compose.yaml":
				continue // the image tag, not a setting
			case (m[1] == "A" || m[1] == "B") && f == "local-cluster.sh":
				continue // the replicas' addresses in DIR/env
			}
			seen[m[0]] = true
			if !flags[name] {
				t.Errorf("%s sets %s, but invitesvc has no flag --%s", f, m[0], name)
			}
		}
	}
	for _, must := range []string{"INVITESVC_NATS_URL", "INVITESVC_NATS_NKEY", "INVITESVC_REDIS_URL", "INVITESVC_STREAM_REPLICAS", "INVITESVC_JWT_SECRET", "INVITESVC_HTTP_ADDR"} {
		if !seen[must] {
			t.Errorf("no deployment file sets %s", must)
		}
	}
}

// waitForEmail waits for the email of an invitation in any of the
// outboxes, and reads it.
func waitForEmail(t *testing.T, outboxes []string, invitationID string) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, dir := range outboxes {
			files, _ := filepath.Glob(filepath.Join(dir, invitationID+".*.eml"))
			if len(files) > 0 {
				raw, err := os.ReadFile(files[0])
				if err != nil {
					t.Fatal(err)
				}
				return raw
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email of invitation %s in %v after 15 s", invitationID, outboxes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// invitesvcFlags reads the flag names cmd/invitesvc defines (fs.StringVar(&x, "name", ...)).
func invitesvcFlags(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../cmd/invitesvc/main.go", nil, 0)
	if err != nil {
		t.Fatalf("read the flags of invitesvc: %v", err)
	}
	flags := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") {
			return true
		}
		if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			name, _ := strconv.Unquote(lit.Value)
			flags[name] = true
		}
		return true
	})
	if len(flags) < 10 || !flags["nats-url"] {
		t.Fatalf("found only the flags %v in cmd/invitesvc/main.go: has the way flags are defined changed?", flags)
	}
	return flags
}

// localCluster is a cluster brought up by local-cluster.sh.
type localCluster struct {
	dir    string
	env    map[string]string
	pids   map[string]int // by name: n1, n2, n3, redis, invitesvc-a, invitesvc-b
	secret []byte
	downed bool
}

func upLocalCluster(t *testing.T) *localCluster {
	t.Helper()
	testkit.NeedsServers(t)
	for _, tool := range []struct{ name, hint string }{
		{"bash", "local-cluster.sh is a bash script"},
		{"go", "local-cluster.sh builds nats-server and invitesvc"},
		{"redis-server", "Debian: apt-get install redis-server"},
		{"ps", "Debian: apt-get install procps"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Fatalf("this test needs %s on the PATH (%s): %v", tool.name, tool.hint, err)
		}
	}
	c := &localCluster{dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLogs(t)
		}
		if !c.downed {
			c.down(t)
		}
	})
	start := time.Now()
	out, err := c.script(t, 15*time.Minute, "up", c.dir)
	if err != nil {
		t.Fatalf("local-cluster.sh up %s: %v\n%s", c.dir, err, out)
	}
	t.Logf("local-cluster.sh up took %v", time.Since(start).Round(time.Millisecond))

	c.env = map[string]string{}
	raw, err := os.ReadFile(filepath.Join(c.dir, "env"))
	if err != nil {
		t.Fatalf("local-cluster.sh up wrote no DIR/env: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("DIR/env: line %q is not KEY=value", line)
		}
		c.env[k] = v
	}
	for _, k := range []string{"NATS_URL", "REDIS_URL", "INVITESVC_A", "INVITESVC_B", "JWT_SECRET_FILE", "NATS_SERVER_BIN", "OUTBOXES"} {
		if c.env[k] == "" {
			t.Fatalf("DIR/env has no %s:\n%s", k, raw)
		}
	}
	if n := len(strings.Split(c.env["NATS_URL"], ",")); n != 3 {
		t.Fatalf("NATS_URL %q lists %d servers, want 3", c.env["NATS_URL"], n)
	}
	for _, k := range []string{"NATS_URL", "REDIS_URL", "INVITESVC_A", "INVITESVC_B"} {
		for _, raw := range strings.Split(c.env[k], ",") {
			u, err := url.Parse(raw)
			if err != nil || u.Hostname() != "127.0.0.1" || slices.Contains([]string{"", "4222", "6222", "8222", "6379", "8080"}, u.Port()) {
				t.Errorf("%s=%s: want loopback addresses on free ports, not the well-known ones (%v)", k, c.env[k], err)
			}
		}
	}
	if c.secret, err = os.ReadFile(c.env["JWT_SECRET_FILE"]); err != nil || len(c.secret) < auth.MinSecretBytes {
		t.Fatalf("JWT_SECRET_FILE %s: %d bytes (%v), want at least %d", c.env["JWT_SECRET_FILE"], len(c.secret), err, auth.MinSecretBytes)
	}

	c.pids = map[string]int{}
	raw, err = os.ReadFile(filepath.Join(c.dir, "pids"))
	if err != nil {
		t.Fatalf("local-cluster.sh up wrote no DIR/pids: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			t.Fatalf("DIR/pids: line %q is not PID NAME ...", line)
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil {
			t.Fatalf("DIR/pids: line %q: %v", line, err)
		}
		c.pids[fields[1]] = pid
	}
	for _, name := range []string{"n1", "n2", "n3", "redis", "invitesvc-a", "invitesvc-b"} {
		if !running(c.pids[name]) {
			t.Fatalf("%s (pid %d in DIR/pids) does not run after up", name, c.pids[name])
		}
	}
	return c
}

// script runs local-cluster.sh with a bound on its time. Its processes are stopped when
// this test process is gone, even if the test is killed before its cleanup runs.
func (c *localCluster) script(t *testing.T, limit time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{"local-cluster.sh"}, args...)...)
	cmd.Env = append(os.Environ(),
		"LOCAL_CLUSTER_CACHE="+filepath.Join(os.TempDir(), "invitesvc-deploy-cache"),
		"LOCAL_CLUSTER_OWNER_PID="+strconv.Itoa(os.Getpid()),
		"LOCAL_CLUSTER_TIMEOUT=120")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within %v: %w", limit, err)
	}
	return string(out), err
}

func (c *localCluster) down(t *testing.T) {
	t.Helper()
	c.downed = true
	if out, err := c.script(t, 2*time.Minute, "down", c.dir); err != nil {
		t.Errorf("local-cluster.sh down %s: %v\n%s", c.dir, err, out)
	}
}

func (c *localCluster) dumpLogs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(c.dir, "logs", "*.log"))
	for _, l := range logs {
		raw, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		lines = lines[max(0, len(lines)-20):]
		t.Logf("--- the end of %s:\n%s", filepath.Base(l), strings.Join(lines, "\n"))
	}
}

func (c *localCluster) token(t *testing.T, sub, email string, perms map[string][]string) string {
	t.Helper()
	tok, err := auth.Mint(c.secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub}, Email: email, OrgPermissions: perms}, 10*time.Minute)
	if err != nil {
		t.Fatalf("mint a token with DIR/jwt-secret: %v", err)
	}
	return tok
}

func (c *localCluster) jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.env["NATS_URL"], nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("connect to NATS_URL %s: %v", c.env["NATS_URL"], err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamInfo reads the stream's info, waiting for a leader after a node loss.
func streamInfo(t *testing.T, js jetstream.JetStream) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	eventually(t, 30*time.Second, "stream info with a leader", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, eventstore.StreamName)
		if err != nil {
			return false, err.Error()
		}
		info = s.CachedInfo()
		return info.Cluster != nil && info.Cluster.Leader != "", fmt.Sprintf("cluster %+v", info.Cluster)
	})
	return info
}

// streamNodes checks that the stream's leader and its two other replicas are three
// distinct servers, and returns their names.
func streamNodes(t *testing.T, info *jetstream.StreamInfo) []string {
	t.Helper()
	if len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream cluster %+v: want a leader and 2 other replicas", info.Cluster)
	}
	nodes := []string{info.Cluster.Leader}
	for _, p := range info.Cluster.Replicas {
		nodes = append(nodes, p.Name)
	}
	slices.Sort(nodes)
	if !slices.Equal(slices.Compact(slices.Clone(nodes)), []string{"n1", "n2", "n3"}) {
		t.Fatalf("stream is on nodes %v, want one replica on each of n1, n2, n3", nodes)
	}
	return nodes
}

// checkNATSConfig validates nats/nats.conf (the compose nodes' file) with nats-server -t.
func checkNATSConfig(t *testing.T, natsServer string) {
	t.Helper()
	setNATSUserKeys(t)
	cmd := exec.Command(natsServer, "-t", "-c", "nats/nats.conf")
	cmd.Env = append(os.Environ(), "NATS_SERVER_NAME=nats1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nats-server -t -c nats/nats.conf: %v\n%s", err, out)
	}
	raw, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nats-route://nats1:6222", "nats-route://nats2:6222", "nats-route://nats3:6222", "jetstream"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("nats/nats.conf lacks %q", want)
		}
	}
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

// try sends a request; body is JSON-encoded; headers are name, value pairs. A failed
// connection is status 0.
func try(method, target, token string, body any, headers ...string) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"body": string(raw)}
	}
	return res.StatusCode, out
}

// call is try that fails the test unless the answer has status want.
func call(t *testing.T, method, target, token string, body any, want int) map[string]any {
	t.Helper()
	status, res := try(method, target, token, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, target, status, want, res)
	}
	return res
}

// eventually polls cond until it holds or limit passes; cond says why it does not hold.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: last %s", what, limit, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func first(t *testing.T, res map[string]any, key string) map[string]any {
	t.Helper()
	items, _ := res[key].([]any)
	if len(items) == 0 {
		t.Fatalf("answer has no %s: %v", key, res)
	}
	m, _ := items[0].(map[string]any)
	return m
}

func str(m map[string]any, key string) string { s, _ := m[key].(string); return s }

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// running reports whether pid is a live process; a zombie waiting to be reaped is not.
func running(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc here: trust kill
	}
	// The state follows the command name in parentheses, which may itself hold ") ".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}
