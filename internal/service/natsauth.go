package service

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// NATSUsers are the embedded server's users: one per role, each with an
// nkey whose seed is kept in Keys, so that clients keep their credentials
// across restarts (as the dev JWT secret).
type NATSUsers struct {
	// Keys is the directory of the seed files (eventstore.SeedFile).
	Keys string
	// SubscriberConsumers are the durable consumers the subscriber owns.
	SubscriberConsumers []string
}

// devSubscriberConsumers are the consumers the embedded server's
// subscriber may create: a mailer and a webhook dispatcher under development.
func devSubscriberConsumers() []string { return []string{"mailer", "webhooks"} }

// startEmbeddedNATS starts the embedded server, whose only users are the
// roles, and connects to it in process as the service.
func (s *Service) startEmbeddedNATS() error {
	users := &NATSUsers{Keys: filepath.Join(s.cfg.DataDir, "nats"), SubscriberConsumers: devSubscriberConsumers()}
	keys, err := eventstore.RoleKeys(users.Keys, eventstore.Roles)
	if err != nil {
		return err
	}
	opts, err := eventstore.ServiceOptions(eventstore.Credentials{NKeyFile: eventstore.SeedFile(users.Keys, eventstore.RoleService)})
	if err != nil {
		return err
	}
	s.ns, err = eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: filepath.Join(s.cfg.DataDir, "jetstream"),
		Listen: s.cfg.NATSListen, SyncAlways: s.cfg.SyncAlways, MaxStore: s.cfg.MaxStore, Users: eventstore.RoleUsers(keys, users.SubscriberConsumers)})
	if err != nil {
		return err
	}
	s.NATSUsers = users
	s.nc, err = eventstore.ConnectEmbedded(s.ns, "invitesvc", opts...)
	return err
}

// connectExternalNATS connects to cfg.NATSURL as the service, with the
// credentials cfg names (none: the server's configuration decides).
func connectExternalNATS(cfg Config) (*nats.Conn, error) {
	creds, err := eventstore.ServiceOptions(eventstore.Credentials{NKeyFile: cfg.NATSNKeyFile, CredsFile: cfg.NATSCredsFile})
	if err != nil {
		return nil, err
	}
	// No reconnect buffer: a publish made while disconnected must fail
	// now, not be sent after the command has answered 503.
	opts := append([]nats.Option{nats.Name("invitesvc"), nats.MaxReconnects(-1),
		nats.Timeout(2 * time.Second), nats.ReconnectWait(250 * time.Millisecond), nats.ReconnectBufSize(-1)}, creds...)
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
	}
	return nc, nil
}
