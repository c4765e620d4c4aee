package eventstore

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedConfig configures the in-process JetStream server.
type EmbeddedConfig struct {
	// DataDir keeps the stream across restarts.
	DataDir string
	// Listen, when set (host:port), also exposes the server over TCP for
	// subscribers and tools; otherwise it is reachable in-process only.
	Listen string
	// SyncAlways makes JetStream fsync every write before acknowledging it.
	SyncAlways bool
	// MaxStore bounds the bytes JetStream keeps on disk; 0 leaves it to
	// nats-server (most of the free disk space).
	MaxStore int64
	// Limits are JetStream's server limits (batch sizes, batches in flight);
	// zero fields keep nats-server's defaults.
	Limits server.JSLimitOpts
	// Users are the only clients it accepts, in-process or over TCP, each
	// identified by its nkey (see RoleUsers); there is no anonymous user.
	Users []*server.NkeyUser
}

// StartEmbedded starts a JetStream server inside this process.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if len(cfg.Users) == 0 {
		return nil, errors.New("embedded nats: no users: it accepts no anonymous client")
	}
	opts := &server.Options{
		Nkeys:             cfg.Users,
		ServerName:        "invitesvc-embedded",
		JetStream:         true,
		StoreDir:          cfg.DataDir,
		SyncAlways:        cfg.SyncAlways,
		JetStreamMaxStore: cfg.MaxStore,
		JetStreamLimits:   cfg.Limits,
		NoSigs:            true,
		NoLog:             true,
		DontListen:        cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", cfg.Listen, err)
		}
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("nats listen address %q: bad port", cfg.Listen)
		}
		opts.Host = host
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	// Start returns once JetStream is enabled and the listener is bound; it
	// reports a store it cannot write or an address in use only to the
	// logger, and then the server never gets ready.
	startErr := &fatalLog{}
	ns.SetLogger(startErr, false, false)
	ns.Start()
	if err := startErr.get(); err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats (store %s): %w", cfg.DataDir, err)
	}
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 15s")
	}
	return ns, nil
}

// fatalLog is the embedded server's logger: it keeps the first fatal error
// and drops the rest, as the server's own logging is off.
type fatalLog struct {
	mu  sync.Mutex
	err error
}

func (l *fatalLog) Fatalf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf(format, v...)
	}
}

func (l *fatalLog) get() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (*fatalLog) Noticef(string, ...any) {}
func (*fatalLog) Warnf(string, ...any)   {}
func (*fatalLog) Errorf(string, ...any)  {}
func (*fatalLog) Debugf(string, ...any)  {}
func (*fatalLog) Tracef(string, ...any)  {}

// ConnectEmbedded opens an in-process connection to an embedded server;
// opts present the user's credentials (Credentials.Options).
func ConnectEmbedded(ns *server.Server, name string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(ns.ClientURL(), append([]nats.Option{nats.InProcessServer(ns), nats.Name(name), nats.MaxReconnects(-1)}, opts...)...)
}
