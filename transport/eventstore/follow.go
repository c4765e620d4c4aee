package eventstore

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitesvc/invitesvc/domain"
)

// Follow reads the events matching filters from the start of the stream and
// keeps following new ones until ctx ends, with an ordered consumer: ephemeral,
// nothing left on the server. Messages that do not decode are skipped.
func Follow(ctx context.Context, js jetstream.JetStream, filters []string, fn func(domain.Recorded)) error {
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		return err
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		e, err := domain.UnmarshalCloudEvent(m.Data())
		if err != nil {
			return
		}
		fn(domain.Recorded{Event: e, Sequence: md.Sequence.Stream, Subject: m.Subject()})
	})
	if err != nil {
		return fmt.Errorf("follow %v: %w", filters, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
