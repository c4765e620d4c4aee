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
}

// encodeFrames lays consecutive events out as one watermill payload: for
// each, its sequence, its subject's length and its data's length as
// uvarints, then the subject and the data.
func encodeFrames(frames []frame) []byte {
	size := 0
	for _, f := range frames {
		size += 3*binary.MaxVarintLen64 + len(f.subject) + len(f.data)
	}
	b := make([]byte, 0, size)
	for _, f := range frames {
		b = binary.AppendUvarint(b, f.sequence)
		b = binary.AppendUvarint(b, uint64(len(f.subject)))
		b = binary.AppendUvarint(b, uint64(len(f.data)))
		b = append(b, f.subject...)
		b = append(b, f.data...)
	}
	return b
}

var errMalformed = errors.New("consumer: malformed batch")

// decodeFrames reads what encodeFrames wrote; the data share b's memory.
func decodeFrames(b []byte) ([]frame, error) {
	var frames []frame
	for len(b) > 0 {
		var f frame
		var subjectLen, dataLen uint64
		for _, v := range []*uint64{&f.sequence, &subjectLen, &dataLen} {
			n := 0
			if *v, n = binary.Uvarint(b); n <= 0 {
				return nil, errMalformed
			}
			b = b[n:]
		}
		if subjectLen > uint64(len(b)) || dataLen > uint64(len(b))-subjectLen {
			return nil, errMalformed
		}
		f.subject = string(b[:subjectLen])
		b = b[subjectLen:]
		f.data = b[:dataLen:dataLen]
		b = b[dataLen:]
		frames = append(frames, f)
	}
	return frames, nil
}
