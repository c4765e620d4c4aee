package main

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// benchUser is the one user of invitebench's own JetStream servers, with
// every permission: it makes baseline streams no role may, and the service
// under test connects as it too.
const benchUser eventstore.Role = "invitebench"

// startEmbedded starts a JetStream server of invitebench's in dir; its user's
// seed is kept in dir too.
func startEmbedded(dir, listen string, syncAlways bool) (*server.Server, eventstore.Credentials, error) {
	keys, err := eventstore.RoleKeys(dir, []eventstore.Role{benchUser})
	if err != nil {
		return nil, eventstore.Credentials{}, err
	}
	ns, err := eventstore.StartEmbedded(eventstore.EmbeddedConfig{DataDir: dir, Listen: listen, SyncAlways: syncAlways,
		Users: []*server.NkeyUser{{Nkey: keys[benchUser]}}})
	return ns, eventstore.Credentials{NKeyFile: eventstore.SeedFile(dir, benchUser)}, err
}
