package eventstore

import (
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// replyMux receives the replies of every direct-get batch (and of every
// append's messages) on one wildcard subscription, so that a load costs no
// subscribe and unsubscribe of its own.
type replyMux struct {
	prefix string

	mu      sync.Mutex
	waiting map[string]chan *nats.Msg
}

func newReplyMux(nc *nats.Conn) (*replyMux, error) {
	m := &replyMux{prefix: nc.NewRespInbox() + ".", waiting: map[string]chan *nats.Msg{}}
	if _, err := nc.Subscribe(m.prefix+"*", m.deliver); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *replyMux) deliver(msg *nats.Msg) {
	m.mu.Lock()
	ch := m.waiting[strings.TrimPrefix(msg.Subject, m.prefix)]
	m.mu.Unlock()
	if ch == nil {
		return // its reader gave up
	}
	// A batch is requested only once the one before it was read, so one
	// batch and its end marker always fit; an append's channel holds a
	// reply for each of its messages.
	select {
	case ch <- msg:
	default:
	}
}

// open returns a reply subject, the channel its replies arrive on, and a
// function to call when done with them.
func (m *replyMux) open() (string, <-chan *nats.Msg, func()) { return m.openSized(directBatch + 2) }

// openSized is open for up to size replies at once.
func (m *replyMux) openSized(size int) (string, <-chan *nats.Msg, func()) {
	token := nuid.Next()
	ch := make(chan *nats.Msg, size)
	m.mu.Lock()
	m.waiting[token] = ch
	m.mu.Unlock()
	return m.prefix + token, ch, func() {
		m.mu.Lock()
		delete(m.waiting, token)
		m.mu.Unlock()
	}
}
