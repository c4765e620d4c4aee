package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// CloudEvent is the structured-mode JSON form of an event (CloudEvents 1.0),
// which is what the stream holds and what subscribers read.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Revision        int             `json:"revision"`
	PrevSHA256      string          `json:"prevsha256,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// MarshalCloudEvent encodes e for the stream.
func MarshalCloudEvent(e Event) ([]byte, error) {
	if err := checkStorable(e.Data); err != nil {
		return nil, err
	}
	if form := revisionOf(e.Data); form != e.Revision {
		return nil, fmt.Errorf("%w: %s of revision %d in the form of revision %d", errNotStorable, e.Type, e.Revision, form)
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	s := StreamOf(e.Data)
	return json.Marshal(CloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: "/organizations/" + s.OrganizationID, Type: e.Type,
		Subject: cloudEventSubject(s), Time: e.Time.UTC(), DataContentType: "application/json",
		Revision: e.Revision, PrevSHA256: e.PrevSHA256, Data: data,
	})
}

// cloudEventSubject names the aggregate within its source: the kind, plural,
// and its key; an organization's key is its id.
func cloudEventSubject(s StreamID) string {
	key := s.Key
	if s.Kind == KindOrganization {
		key = s.OrganizationID
	}
	return s.Kind.String() + "/" + key
}

// UnmarshalCloudEvent decodes an event read from the stream. It fails for an
// unknown type or revision, so no event is ever silently misread.
func UnmarshalCloudEvent(raw []byte) (Event, error) {
	var ce CloudEvent
	if err := json.Unmarshal(raw, &ce); err != nil {
		return Event{}, fmt.Errorf("decode cloudevent: %w", err)
	}
	if ce.SpecVersion != "1.0" || ce.ID == "" {
		return Event{}, fmt.Errorf("decode cloudevent: not a CloudEvents 1.0 event")
	}
	data, err := DecodePayload(ce.Type, ce.Revision, ce.Data)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: ce.ID, Type: ce.Type, Revision: ce.Revision, Time: ce.Time, Data: data, PrevSHA256: ce.PrevSHA256}, nil
}
