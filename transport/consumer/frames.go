package consumer

import (
	"encoding/binary"
	"errors"
)

// frame is one stored event inside a batch's watermill message.
type frame struct {
	sequence uint64
	subject  string
	data     []byte
	// keyID and signature are the event's signature headers, as stored.
	keyID     string
	signature string
}

// encodeFrames lays consecutive events out as one watermill payload: for
// each, its sequence and the lengths of its subject, data, key id and
// signature as uvarints, then those four.
func encodeFrames(frames []frame) []byte {
	size := 0
	for _, f := range frames {
		size += 5*binary.MaxVarintLen64 + len(f.subject) + len(f.data) + len(f.keyID) + len(f.signature)
	}
	b := make([]byte, 0, size)
	for _, f := range frames {
		b = binary.AppendUvarint(b, f.sequence)
		b = binary.AppendUvarint(b, uint64(len(f.subject)))
		b = binary.AppendUvarint(b, uint64(len(f.data)))
		b = binary.AppendUvarint(b, uint64(len(f.keyID)))
		b = binary.AppendUvarint(b, uint64(len(f.signature)))
		b = append(b, f.subject...)
		b = append(b, f.data...)
		b = append(b, f.keyID...)
		b = append(b, f.signature...)
	}
	return b
}

var errMalformed = errors.New("consumer: malformed batch")

// decodeFrames reads what encodeFrames wrote; the data share b's memory.
func decodeFrames(b []byte) ([]frame, error) {
	var frames []frame
	for len(b) > 0 {
		var f frame
		var subjectLen, dataLen, keyIDLen, signatureLen uint64
		for _, v := range []*uint64{&f.sequence, &subjectLen, &dataLen, &keyIDLen, &signatureLen} {
			n := 0
			if *v, n = binary.Uvarint(b); n <= 0 {
				return nil, errMalformed
			}
			b = b[n:]
		}
		// Each length is checked against what is left, so no sum overflows.
		take := func(n uint64) ([]byte, bool) {
			if n > uint64(len(b)) {
				return nil, false
			}
			part := b[:n:n]
			b = b[n:]
			return part, true
		}
		subject, ok1 := take(subjectLen)
		data, ok2 := take(dataLen)
		keyID, ok3 := take(keyIDLen)
		signature, ok4 := take(signatureLen)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, errMalformed
		}
		f.subject, f.data, f.keyID, f.signature = string(subject), data, string(keyID), string(signature)
		frames = append(frames, f)
	}
	return frames, nil
}
