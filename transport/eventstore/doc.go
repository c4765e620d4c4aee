// Package eventstore keeps the events in the NATS JetStream stream INVITATIONS:
// stream setup, append with optimistic concurrency, aggregate loading, the
// ordered follower the expiry uses, and the embedded server; and an event
// store in memory with the same guarantees. Both pass the conformance suite
// in eventstore/eventstoretest. The projections' consumer is in
// transport/consumer.
package eventstore
