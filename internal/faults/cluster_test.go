package faults_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/internal/service"
	"github.com/invitesvc/invitesvc/internal/testkit"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// startCluster runs three JetStream servers, from the nats-server module,
// routed to each other on loopback ports, each syncing every write.
func startCluster(t *testing.T) (map[string]*server.Server, string) {
	t.Helper()
	testkit.NeedsServers(t)
	clusterPorts := []int{freePort(t), freePort(t), freePort(t)}
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := map[string]*server.Server{}
	var urls []string
	for i, p := range clusterPorts {
		name := fmt.Sprintf("n%d", i+1)
		ns, err := server.NewServer(&server.Options{
			ServerName: name, JetStream: true, StoreDir: t.TempDir(), SyncAlways: true,
			Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "invitations", Host: "127.0.0.1", Port: p},
			Routes:  routes,
		})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", name)
		}
		t.Cleanup(ns.Shutdown)
		servers[name] = ns
		urls = append(urls, ns.ClientURL())
	}
	// Wait for the JetStream meta leader: until then nothing can be created.
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream cluster not formed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return servers, strings.Join(urls, ",")
}

// TestStreamLeaderKilledUnderLoad runs the stream at three replicas and two
// service replicas sharing Redis, then shuts the stream leader down in the
// middle of a load: no acknowledged command is lost, commands succeed again
// within 10 seconds, and both replicas answer the same.
func TestStreamLeaderKilledUnderLoad(t *testing.T) {
	servers, natsURL := startCluster(t)
	redisURL := testkit.Redis(t)
	var replicas []*httptest.Server
	// The replicas sign with one key, so that each verifies the other's events.
	signingKey, kek := testkit.KeyFile(t), testkit.KEKFile(t) // one of each for both replicas
	keys := testkit.KeysIn(t, filepath.Dir(signingKey))
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		svc, err := service.Start(ctx, service.Config{NATSURL: natsURL, Replicas: 3, RedisURL: redisURL, RedisPrefix: "cluster:", SigningKey: signingKey, KEKFile: kek,
			JWTSecret: string(secret), FailuresPerMinute: 1e6, FailureBurst: 1e6, InvitationsPerHour: 1e6,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		srv := httptest.NewServer(svc.Handler)
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv)
	}
	adminToken := token(t, "admin", "", admin)
	expectStatus(t, http.StatusCreated, replicas[0].URL, "PUT", api+"/acme", adminToken, map[string]any{"name": "Acme"})

	var mu sync.Mutex
	var acknowledged []string
	var killedAt atomic.Int64
	var answeredAgain atomic.Int64 // when the first create sent after the kill succeeded
	var failedAfter atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			url := replicas[w%2].URL
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now().UnixNano()
				status, body := call(url, "POST", api+"/acme/invitations", adminToken, map[string]any{"emails": []string{fmt.Sprintf("w%d-%d@example.com", w, i)}})
				afterKill := killedAt.Load() != 0 && sent > killedAt.Load()
				if status != http.StatusCreated {
					if afterKill {
						failedAfter.Add(1)
					}
					continue
				}
				mu.Lock()
				acknowledged = append(acknowledged, body["invitations"].([]any)[0].(map[string]any)["id"].(string))
				mu.Unlock()
				if afterKill {
					answeredAgain.CompareAndSwap(0, time.Now().UnixNano())
				}
			}
		})
	}
	time.Sleep(2 * time.Second)
	leader := streamLeader(t, natsURL)
	servers[leader].Shutdown()
	killedAt.Store(time.Now().UnixNano())
	time.Sleep(12 * time.Second)
	close(stop)
	wg.Wait()

	if answeredAgain.Load() == 0 {
		t.Fatalf("no create sent after the leader %s went down succeeded", leader)
	}
	recovered := time.Duration(answeredAgain.Load() - killedAt.Load())
	t.Logf("the leader %s went down; the first create sent after it succeeded %s later (%d failed meanwhile)", leader, recovered, failedAfter.Load())
	if recovered > 10*time.Second {
		t.Fatalf("the service answered again only %s after the leader went down", recovered)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d creates acknowledged", len(acknowledged))
	for _, id := range acknowledged {
		for _, r := range replicas {
			if status, _ := call(r.URL, "GET", api+"/acme/invitations/"+id, adminToken, nil); status != http.StatusOK {
				t.Fatalf("acknowledged invitation %s: %d on %s; %s", id, status, r.URL, inStream(natsURL, keys, id))
			}
		}
	}
	var totals []float64
	for _, r := range replicas {
		_, body := call(r.URL, "GET", api+"/acme/invitations?status=all&limit=10", adminToken, nil)
		totals = append(totals, float64(len(body["invitations"].([]any))))
	}
	if totals[0] != totals[1] {
		t.Fatalf("replicas disagree: %v", totals)
	}
}

// streamLeader names the server leading the INVITATIONS stream.
func streamLeader(t *testing.T, natsURL string) string {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(context.Background(), eventstore.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream is not at three replicas: %+v %v", info.Cluster, err)
	}
	return info.Cluster.Leader
}

// inStream says whether an invitation's events are in the stream, to tell a
// lost write from a read model that lags.
func inStream(natsURL string, keys eventstore.Keys, id string) string {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err.Error()
	}
	defer nc.Close()
	store, _ := eventstore.New(nc, keys)
	events, _, err := store.Load(context.Background(), domain.StreamID{Kind: domain.KindInvitation, OrganizationID: "acme", Key: id})
	switch {
	case err != nil:
		return err.Error()
	case len(events) == 0:
		return "its events are NOT in the stream: an acknowledged write was lost"
	}
	return "its events are in the stream: the read model did not show them before the answer"
}
