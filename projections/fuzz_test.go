package projections_test

import (
	"testing"

	"github.com/invitesvc/invitesvc/projections"
)

func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{projections.EncodeCursor(1), projections.EncodeCursor(1 << 62), "", "p1:5", "cDE6MDA1", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := projections.DecodeCursor(s)
		if err != nil {
			return
		}
		// Only cursors this service makes decode, and they decode exactly.
		if pos == 0 || projections.EncodeCursor(pos) != s {
			t.Fatalf("%q decoded to %d, which encodes as %q", s, pos, projections.EncodeCursor(pos))
		}
	})
}

// FuzzDecodeBatch feeds the projector's batch decoder any bytes: it never
// panics, and what it decodes survives encoding and decoding again.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(projections.EncodeBatch([]projections.RawEvent{{Sequence: 1, Data: []byte(`{}`)}, {Sequence: 1 << 40}}))
	f.Add([]byte{0x80})
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := projections.DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := projections.DecodeBatch(projections.EncodeBatch(events))
		if err != nil || len(again) != len(events) {
			t.Fatalf("%x: re-encoded, %d events of %d, %v", b, len(again), len(events), err)
		}
		for i := range events {
			if again[i].Sequence != events[i].Sequence || string(again[i].Data) != string(events[i].Data) {
				t.Fatalf("%x: event %d is %+v after a round trip, was %+v", b, i, again[i], events[i])
			}
		}
	})
}
