// Package keystore holds the keys that seal personal data in events
// (crypto-shredding, issue 14): a JetStream key-value bucket of data keys,
// one per email address in an organization, and of HMAC keys, one per
// organization, each wrapped by a key-encryption key from the service's
// configuration. Erasing an address deletes its data key for good, with
// JetStream's secure erase, and every event sealed under it stays
// verifiable and readable but for the address.
package keystore
