package consumer

import (
	"reflect"
	"testing"
)

// TestFramesRoundTrip frames events of every size and cuts the result at
// every byte: a whole frame decodes exactly, a cut one is refused.
func TestFramesRoundTrip(t *testing.T) {
	frames := []frame{
		{sequence: 1, subject: "invitations.acme.x.created", data: []byte(`{"a":1}`), keyID: "0123456789abcdef", signature: "c2lnbmF0dXJl"},
		{sequence: 300, subject: "", data: []byte{}},
		{sequence: 1 << 40, subject: "members.acme.y.added", data: make([]byte, 1000), signature: "only-a-signature"},
	}
	encoded := encodeFrames(frames)
	got, err := decodeFrames(encoded)
	if err != nil || !reflect.DeepEqual(got, frames) {
		t.Fatalf("decodeFrames = %+v, %v", got, err)
	}
	// Cut after the i-th frame, the first i+1 decode; cut anywhere else,
	// the batch is refused.
	whole := map[int]int{}
	for i := range frames {
		whole[len(encodeFrames(frames[:i+1]))] = i + 1
	}
	for cut := 1; cut < len(encoded); cut++ {
		got, err := decodeFrames(encoded[:cut])
		n, isWhole := whole[cut]
		switch {
		case !isWhole && err == nil:
			t.Fatalf("a batch cut at byte %d of %d decoded to %d frames", cut, len(encoded), len(got))
		case isWhole && (err != nil || !reflect.DeepEqual(got, frames[:n])):
			t.Fatalf("a batch cut after frame %d (byte %d) = %+v, %v", n, cut, got, err)
		}
	}
}
