// Package redisstore keeps the read models in Redis, so that every replica of
// the service answers from the same, already built, projections.
//
// The read models live in a generation: a complete set of keys that a
// rebuild can replace by another at once (see Rebuild). Key layout, <g>
// being <prefix> for generation 0 and <prefix>g<N>: for generation N, and
// every organization's keys sharing the organization id as a hash tag (ids
// cannot contain braces):
//
//	<prefix>generation              the live generation; absent means 0
//	<prefix>generation-seq          the last generation number handed out
//	<prefix>rebuild-lock            held by the rebuild in progress
//	<g>org:{acme}                   organization, JSON string
//	<g>inv:{acme}:<id>              invitation, hash: doc (JSON), v (version),
//	                                tok (token SHA-256), b (bucket), p (position)
//	<g>invs:{acme}:<bucket>         sorted set of invitation ids, score = position
//	<g>mem:{acme}:<sha256(user)>    member, hash: doc (JSON), p (position)
//	<g>mems:{acme}                  sorted set of sha256(user), score = position
//	<g>tok:<sha256>                 name of the invitation key holding that token
//	<g>checkpoint                   position of the last applied event
//
// Every access is a Lua script that reads the pointer itself and builds the
// key names from it, so each one sees a single generation, and a switch falls
// between two of them, never inside one. A store with no pointer is
// generation 0, the layout of the stores made before generations existed.
//
// Apply touches the global keys and one organization's keys in one script, so
// the store needs a single Redis primary (replicas are fine); on Redis
// Cluster the script would be refused as cross-slot.
package redisstore
