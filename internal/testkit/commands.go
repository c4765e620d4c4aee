package testkit

import "context"

// NoReads is a commands read side that is always caught up, for tests
// that read the event store rather than read models.
type NoReads struct{}

func (NoReads) WaitFor(context.Context, uint64) {}
func (NoReads) Ready(context.Context) error     { return nil }
func (NoReads) InvitationIDByToken(context.Context, string) (string, string, bool, error) {
	return "", "", false, nil
}

// NoObserver is a commands observer that records nothing.
type NoObserver struct{}

func (NoObserver) CommandDone(string, string, int) {}
