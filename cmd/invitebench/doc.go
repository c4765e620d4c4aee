// Command invitebench measures the invitations service beside the limits it is
// built on, in one run on one machine: creates and accepts beside raw
// JetStream publishes, token look-ups and list pages beside a trivial handler
// and raw Redis reads, projection lag under a steady load, a rebuild beside
// the raw ordered-consumer read rate, and memory per invitation. It prints a
// table (figure, value, baseline, ratio, target, met?) and can write the same
// as JSON.
//
// By default it starts everything itself on loopback: an embedded JetStream
// server in a temporary directory (fsync on every write unless
// --sync-always=false), a private redis-server on a free port, and the
// service in-process (service.Start). With --url it targets a running
// service instead; give --nats-url, --redis-url and --jwt-secret for the
// baselines and tokens.
//
//	go run ./cmd/invitebench                       # full run, fsync on every write (invitesvc's default)
//	go run ./cmd/invitebench --sync-always=false   # the same with NATS's default, fsync every 2 minutes
//	go run ./cmd/invitebench --duration 2s --rebuild-events 100000 --only create,lookup
package main
