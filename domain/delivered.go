package domain

// Delivered is a stored event handed to a stream consumer: decoded, or with
// Err saying why this build cannot decode it (a newer type or revision), so
// that each consumer decides what to do with it rather than lose it.
type Delivered struct {
	Recorded
	Err error
	// Data is the event as stored, and KeyID and Signature its signature,
	// for the consumer to verify that the service wrote it.
	Data      []byte
	KeyID     string
	Signature []byte
}

// DecodeDelivered decodes the event stored at seq on subject.
func DecodeDelivered(seq uint64, subject string, stored []byte) Delivered {
	e, err := UnmarshalCloudEvent(stored)
	return Delivered{Recorded: Recorded{Event: e, Sequence: seq, Subject: subject}, Err: err, Data: stored}
}
