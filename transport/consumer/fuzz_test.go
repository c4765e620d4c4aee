package consumer

import "testing"

// FuzzDecodeFrames feeds the batch framing's decoder any bytes: it never
// panics, and what it decodes survives encoding and decoding again.
func FuzzDecodeFrames(f *testing.F) {
	f.Add(encodeFrames([]frame{{sequence: 1, subject: "invitations.a.b.created", data: []byte(`{}`), keyID: "k", signature: "s"}, {sequence: 1 << 40}}))
	f.Add([]byte{0x80})
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := decodeFrames(b)
		if err != nil {
			return
		}
		again, err := decodeFrames(encodeFrames(frames))
		if err != nil || len(again) != len(frames) {
			t.Fatalf("%x: re-encoded, %d frames of %d, %v", b, len(again), len(frames), err)
		}
		for i := range frames {
			if again[i].sequence != frames[i].sequence || again[i].subject != frames[i].subject || string(again[i].data) != string(frames[i].data) ||
				again[i].keyID != frames[i].keyID || again[i].signature != frames[i].signature {
				t.Fatalf("%x: frame %d is %+v after a round trip, was %+v", b, i, again[i], frames[i])
			}
		}
	})
}
