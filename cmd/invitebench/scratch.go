package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/internal/redisserver"
	"github.com/invitesvc/invitesvc/internal/signing"
	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// scratchJetStream is a fresh embedded JetStream server like the run's (file
// storage, one replica, fsync on every write or not) with an empty
// INVITATIONS stream, for a step that needs a stream of its own; it is
// reached over TCP loopback like the run's main server.
type scratchJetStream struct {
	dir string
	ns  *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	es  *eventstore.Store
	// keys sign what the step writes and verify what its pipeline reads.
	keys eventstore.Keys
}

func (b *bench) newScratchJetStream(ctx context.Context, name string, syncAlways bool) (_ *scratchJetStream, err error) {
	s := &scratchJetStream{dir: filepath.Join(b.dir, name)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	ns, creds, err := startEmbedded(s.dir, "127.0.0.1:"+port, syncAlways)
	s.ns = ns
	if err != nil {
		return nil, err
	}
	opts, err := creds.Options()
	if err != nil {
		return nil, err
	}
	if s.nc, err = nats.Connect(s.ns.ClientURL(), append(opts, nats.Name("invitebench-"+name))...); err != nil {
		return nil, err
	}
	signer, err := signing.Generate()
	if err != nil {
		return nil, err
	}
	s.keys = eventstore.Keys{Signer: signer, Keyring: signing.NewKeyring(signer.Public())}
	if s.es, err = eventstore.New(s.nc, s.keys); err != nil {
		return nil, err
	}
	s.js = s.es.JetStream()
	if err := eventstore.EnsureStream(ctx, s.js, 1); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *scratchJetStream) close() {
	if s.nc != nil {
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	_ = os.RemoveAll(s.dir)
}

// quietLogger is the logger the projection pipelines get in the steps.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// procStatusKB reads a "Name: N kB" line of a /proc file.
func procStatusKB(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == name {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %s", path, name)
}

// rssBytes is this process's resident set size.
func rssBytes() (int64, error) {
	kb, err := procStatusKB("/proc/self/status", "VmRSS")
	return kb << 10, err
}
