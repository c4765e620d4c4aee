// Package mailer sends the invitations' emails: a process manager that a
// stream consumer (transport/consumer) feeds with the events. For each
// invitation.created and invitation.resent that carries a sealed token, it
// asks the invitation's own events whether that email is still due (the
// invitation pending, its token the current one, no outcome recorded),
// opens the token with the delivery identity, renders the templates and
// sends the email over SMTP (or writes it to dev mode's outbox), then
// records the outcome as an event of the invitation.
//
// Delivery is at least once. Temporary failures (a 4xx reply) are retried
// with backoff up to a number of attempts, failures to reach the server
// (refused, timed out, TLS or authentication failing) for as long as they
// last, since no other email would go out either; a permanent failure (a
// 5xx reply) is recorded at once. The batch is acknowledged once each of
// its emails has its outcome recorded: a mailer that stops before that
// leaves them to the next one, which sends again what it finds unrecorded.
// The email's Message-ID is derived from its event, the same every time.
package mailer
