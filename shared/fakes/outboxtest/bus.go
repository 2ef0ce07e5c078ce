package outboxtest

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
)

// Bus is an in-memory EventBridge PutEvents: it keeps the entries it accepts, with the event id
// it gave each, and can fail whole calls or single entries as EventBridge does (a failed entry
// has an ErrorCode and counts in FailedEntryCount; the others of the call are accepted).
type Bus struct {
	// FailEntry, when set, is asked about each entry: a non-empty error code (such as
	// "InternalFailure" or "ThrottlingException") fails it.
	FailEntry func(e ebtypes.PutEventsRequestEntry) string
	// FailCall, when set, is asked before each call: an error it returns is the call's answer
	// and no entry is accepted.
	FailCall func() error

	mu       sync.Mutex
	accepted []Published
	calls    int
}

// Published is an entry the bus accepted.
type Published struct {
	EventID string // the id EventBridge gave the event (the envelope's id)
	Entry   ebtypes.PutEventsRequestEntry
}

// PutEvents implements the EventBridge operation: 1 to 10 entries; an entry whose Detail is not a
// JSON object fails with MalformedDetail.
func (b *Bus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if b.FailCall != nil {
		if err := b.FailCall(); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if n := len(in.Entries); n == 0 || n > 10 {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10", Fault: smithy.FaultClient}
	}
	out := &eventbridge.PutEventsOutput{Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}
	for i, e := range in.Entries {
		code := ""
		var obj map[string]json.RawMessage
		if json.Unmarshal([]byte(aws.ToString(e.Detail)), &obj) != nil || obj == nil {
			code = "MalformedDetail"
		} else if b.FailEntry != nil {
			code = b.FailEntry(e)
		}
		if code != "" {
			out.FailedEntryCount++
			out.Entries[i] = ebtypes.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("failed by the fake bus")}
			continue
		}
		id := uuid.NewString()
		b.accepted = append(b.accepted, Published{EventID: id, Entry: e})
		out.Entries[i] = ebtypes.PutEventsResultEntry{EventId: aws.String(id)}
	}
	return out, nil
}

// Published returns the accepted entries, in order.
func (b *Bus) Published() []Published {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Published(nil), b.accepted...)
}

// Calls says how many PutEvents calls reached the bus (FailCall refusals excluded).
func (b *Bus) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}
