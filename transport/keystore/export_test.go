package keystore

import (
	"context"
	"encoding/json"
)

// DataKeyOf is the data key of an address's generation as the bucket holds
// it, clear and wrapped (the bytes stored), for the tests that look for
// them on disk.
func DataKeyOf(ctx context.Context, s *Store, org, emailHMAC string, generation int) (key, wrappedKey []byte, err error) {
	name := dataKeyName(org, emailHMAC, generation)
	e, err := s.kv.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	var w wrapped
	if err := json.Unmarshal(e.Value(), &w); err != nil {
		return nil, nil, err
	}
	key, _, err = s.unwrap(name, e.Value())
	return key, w.Key, err
}

// NewKEK is a KEK of the bytes given.
var NewKEK = newKEK

// CurrentKEK is the KEK a store wraps with.
func CurrentKEK(s *Store) *KEK { return s.current }
