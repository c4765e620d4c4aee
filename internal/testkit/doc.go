// Package testkit starts the real dependencies tests talk to: an in-process
// JetStream server and a redis-server on a free port. Under go test -short
// none of them starts: a test that needs one is skipped (see NeedsServers),
// so that the short run is the fast loop of pure tests.
package testkit
