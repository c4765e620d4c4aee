// Package webhooks pushes an organization's events to the HTTP endpoints
// its admins register (issue 16), signed as Standard Webhooks asks, retried,
// and never to an address inside the network.
//
// Everything it keeps is in JetStream beside the stream, so that a replica
// may die at any moment and another carry on:
//
//   - the endpoints are aggregates of the stream (domain.Webhook); the API
//     reads them from it, by the server's index;
//   - their signing secrets are in the key-value bucket
//     eventstore.WebhookSecretsBucket, each wrapped by the key-encryption
//     key (AES-256-GCM, bound to its entry's name), and erased with
//     JetStream's secure erase when the endpoint is deleted or the secret
//     rotated out;
//   - the pending deliveries are the stream eventstore.WebhookOutboxStream,
//     one subject per endpoint, in the order the events were stored; a
//     delivery leaves it once answered 2xx or given up;
//   - each endpoint's last 64 attempts, and the dispatcher's lease, are the
//     key-value bucket eventstore.WebhookDeliveriesBucket.
//
// The dispatcher holds the lease (one replica at a time) and then runs
// the stream consumer (transport/consumer, durable eventstore.WebhookDurable)
// that puts into the outbox each event an endpoint wants, as the endpoint
// stood at that event's position, and one worker per endpoint with pending
// deliveries, which sends them one at a time in order: one slow or dead
// endpoint holds back no other, and what is pending is on disk, not in
// memory.
package webhooks
