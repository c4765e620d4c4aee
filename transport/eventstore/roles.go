package eventstore

import (
	"slices"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/invitesvc/invitesvc/transport/keystore"
)

// Role is a kind of NATS user of the stream. Each role has exactly the
// permissions its users need; deploy/nats/auth.conf carries the same ones
// for an external NATS (a test keeps the two equal).
type Role string

const (
	// RoleService is invitesvc: it writes the events, manages the stream
	// and its own consumers.
	RoleService Role = "service"
	// RoleSubscriber is a downstream team (a mailer, a webhook dispatcher):
	// durable pull consumers of its own, nothing else.
	RoleSubscriber Role = "subscriber"
	// RoleAuditor is invitectl: it reads, with ephemeral ordered consumers
	// and direct gets.
	RoleAuditor Role = "auditor"
)

// Roles are every role, in the order they are documented.
var Roles = []Role{RoleService, RoleSubscriber, RoleAuditor}

// ServiceDurable is the durable consumer the service's replicas share for
// the read models in Redis.
const ServiceDurable = "invitesvc-read-models"

// MailerDurable is the durable consumer of the service's mailer, which its
// replicas share, one of them active at a time (issue 15).
const MailerDurable = "invitesvc-mailer"

// ServiceInboxPrefix is where the service's replies arrive (publish acks,
// direct gets, pulled events). No other role may subscribe under it: a user
// who could watch the service's inboxes could also make JetStream deliver
// messages into them, since the reply subject of a pull request is not
// checked against any permission.
const ServiceInboxPrefix = "_INBOX_invitesvc"

// clientInboxes are the replies of the other roles: nats.go's and the nats
// CLI's default inbox prefix.
const clientInboxes = "_INBOX.>"

const (
	keyStreamInfo = jsAPI + "STREAM.INFO." + keystore.StreamName
	keyMsgGet     = jsAPI + "STREAM.MSG.GET." + keystore.StreamName
)

const (
	jsAPI      = "$JS.API."
	streamInfo = jsAPI + "STREAM.INFO." + StreamName
	directGet  = jsAPI + "DIRECT.GET." + StreamName
	acks       = "$JS.ACK." + StreamName + "."
)

// consumerAPI is the JetStream API subject of op on consumer name of the
// stream ("*" for any name).
func consumerAPI(op, name string) string {
	return jsAPI + "CONSUMER." + op + "." + StreamName + "." + name
}

// consumerCreate is both forms of the create subject: without a filter, and
// with the consumer's one filter subject appended (what nats.go sends for a
// consumer of one filter).
func consumerCreate(name string) []string {
	return []string{consumerAPI("CREATE", name), consumerAPI("CREATE", name) + ".>"}
}

// ServicePermissions: publish the events; create, update and read the
// stream (never delete or purge it), and the account's JetStream usage
// ($JS.API.INFO, which the nats CLI asks before it creates the stream, in
// the deployments' stream job); create, read, pull, ack, unpin and
// delete its consumers: durable ones (ServiceDurable, MailerDurable, and any a runner of
// the service is given) and the ephemeral and ordered ones whose names
// nats.go makes up, hence "*"; replies under its own inbox prefix. No core
// subscription to the events: it reads them with consumers.
func ServicePermissions() *server.Permissions {
	allow := slices.Concat(StreamSubjects,
		[]string{
			jsAPI + "INFO",
			jsAPI + "STREAM.CREATE." + StreamName,
			jsAPI + "STREAM.UPDATE." + StreamName,
			streamInfo,
			// The write probe: a stream of its own, one message per replica.
			ProbeSubjects,
			jsAPI + "STREAM.CREATE." + ProbeStream,
			jsAPI + "STREAM.UPDATE." + ProbeStream,
			directGet, directGet + ".>",
			// The key bucket (transport/keystore): its entries, its stream,
			// reads from its leader and the secure erase of a message.
			keystore.Subjects,
			jsAPI + "STREAM.CREATE." + keystore.StreamName,
			jsAPI + "STREAM.UPDATE." + keystore.StreamName,
			keyStreamInfo,
			keyMsgGet,
			jsAPI + "STREAM.MSG.DELETE." + keystore.StreamName,
		},
		webhookPermissions(),
		consumerCreate("*"),
		[]string{
			consumerAPI("INFO", "*"),
			consumerAPI("UNPIN", "*"),
			consumerAPI("DELETE", "*"),
			consumerAPI("MSG.NEXT", "*"),
			acks + ">",
		})
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow},
		Subscribe: &server.SubjectPermission{Allow: []string{ServiceInboxPrefix + ".>"}},
	}
}

// SubscriberPermissions: the durable pull consumers named consumers, and
// only those: create (and update), read their info, pull, ack, delete; the
// stream's info. No publish on any event subject, no stream update, delete
// or purge, no core subscription to the events (a core subscriber would
// also see the publishes JetStream refused).
//
// A subscriber owns consumers by exact name because a consumer name is one
// subject token, and NATS permissions match whole tokens: "mailer-*" cannot
// be said. So each team's user lists the names it owns, which also keeps
// one team off another's consumers.
func SubscriberPermissions(consumers []string) *server.Permissions {
	allow := []string{streamInfo}
	for _, c := range consumers {
		allow = slices.Concat(allow, consumerCreate(c), []string{
			consumerAPI("INFO", c),
			consumerAPI("MSG.NEXT", c),
			consumerAPI("DELETE", c),
			acks + c + ".>",
		})
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow},
		Subscribe: &server.SubjectPermission{Allow: []string{clientInboxes}},
	}
}

// AuditorPermissions: the stream's info, direct gets, and ordered
// consumers: create, pull and delete them. It may read the key bucket's
// entries, wrapped: they open nothing without the key-encryption key, which
// an operator gives invitectl to show, rebuild and compare addresses; it
// may not write, erase or delete any. Their names are made up by
// nats.go, hence "*"; the durable consumers of the service and of the
// subscribers (subscriberConsumers) are denied by name, so that the auditor
// can neither take their messages, change them (a create with an existing
// name updates it) nor delete them. No ack: ordered consumers need none.
//
// JetStream's subjects cannot tell an ephemeral consumer from a durable one
// of a new name; invitectl creates only ordered consumers, and a durable
// one an auditor made would hold no one's position.
func AuditorPermissions(subscriberConsumers []string) *server.Permissions {
	var deny []string
	for _, c := range slices.Concat([]string{ServiceDurable, MailerDurable, WebhookDurable}, subscriberConsumers) {
		deny = slices.Concat(deny, consumerCreate(c), []string{consumerAPI("MSG.NEXT", c), consumerAPI("DELETE", c)})
	}
	allow := slices.Concat([]string{streamInfo, directGet, directGet + ".>", keyStreamInfo, keyMsgGet}, consumerCreate("*"),
		[]string{consumerAPI("MSG.NEXT", "*"), consumerAPI("DELETE", "*")})
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow, Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: []string{clientInboxes}},
	}
}

// RoleUsers are the users of an embedded server: one nkey (public key) per
// role; the subscriber owns the durable consumers subscriberConsumers.
func RoleUsers(publicKeys map[Role]string, subscriberConsumers []string) []*server.NkeyUser {
	perms := map[Role]*server.Permissions{
		RoleService:    ServicePermissions(),
		RoleSubscriber: SubscriberPermissions(subscriberConsumers),
		RoleAuditor:    AuditorPermissions(subscriberConsumers),
	}
	users := make([]*server.NkeyUser, 0, len(Roles))
	for _, r := range Roles {
		users = append(users, &server.NkeyUser{Nkey: publicKeys[r], Permissions: perms[r]})
	}
	return users
}
