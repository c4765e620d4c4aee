// Package commands carries out the service's commands: each handler loads the
// aggregates it needs from the event store, lets the domain decide, and
// appends the resulting events with optimistic concurrency, retrying a lost
// race a bounded number of times. It knows nothing of HTTP.
package commands
