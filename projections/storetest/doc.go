// Package storetest is the conformance suite of projections.Store: every
// implementation runs it, so that they all behave alike.
package storetest
