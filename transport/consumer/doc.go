// Package consumer runs the service's stream consumers: a pull consumer on
// the INVITATIONS stream, durable and shared by the replicas or ephemeral,
// feeding batches of consecutive events through watermill's router and its
// middleware (panics recovered, failures retried, a batch that keeps failing
// fed again from the handler's checkpoint, never dropped) to a handler that
// receives the decoded events in stream order. The read models' projector is
// one such handler; how a batch travels through watermill is private here.
package consumer
