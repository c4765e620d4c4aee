// Package eventstore keeps the events in the NATS JetStream stream INVITATIONS:
// stream setup, append with optimistic concurrency, aggregate loading, the
// subscriber the projections consume, and the embedded server.
package eventstore
