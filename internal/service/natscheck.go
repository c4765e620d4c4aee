package service

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/semver"

	"github.com/invitesvc/invitesvc/transport/eventstore"
)

// minServerVersion is the first nats-server release with atomic batch
// publish, which every append uses. Older servers accept the stream and
// drop the setting they do not know; every append then waits for a reply
// that never comes.
const minServerVersion = "v2.12"

// checkServerVersion refuses a NATS server older than minServerVersion;
// its release candidates count as that release.
func checkServerVersion(server, version string) error {
	v := "v" + version
	if !semver.IsValid(v) || semver.Compare(semver.MajorMinor(v), minServerVersion) < 0 {
		return fmt.Errorf("the NATS server at %s is version %q: invitesvc needs nats-server >= 2.12 (atomic batch publish)", server, version)
	}
	return nil
}

// checkAtomicPublish reads back the stream's settings: a server (or a node
// of a cluster) that does not know atomic batch publish leaves it off.
func checkAtomicPublish(ctx context.Context, js jetstream.JetStream, version string) error {
	stream, err := js.Stream(ctx, eventstore.StreamName)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", eventstore.StreamName, err)
	}
	return atomicPublishAllowed(stream.CachedInfo(), version)
}

func atomicPublishAllowed(info *jetstream.StreamInfo, version string) error {
	if !info.Config.AllowAtomicPublish {
		return fmt.Errorf("NATS server %s left atomic batch publish off on stream %s: invitesvc needs nats-server >= 2.12 (atomic batch publish) on every node",
			version, eventstore.StreamName)
	}
	return nil
}
