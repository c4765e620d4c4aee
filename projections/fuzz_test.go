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
