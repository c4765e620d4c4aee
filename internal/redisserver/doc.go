// Package redisserver starts a private redis-server on a loopback port,
// without persistence, for the tests (through internal/testkit) and for
// invitebench. Neither ever touches a Redis it did not start.
package redisserver
