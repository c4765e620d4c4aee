// Package auth verifies bearer JWTs and answers permission questions about the
// caller (API.md section 2).
package auth
