// Package enforcement holds what every revocation enforcer does around its own work (flow 5 of
// the design): take each Credential Revoked from its queue, failing a record alone through the
// partial batch response; skip a revocation it reported already; and commit its report with
// Revocation Enforced in one outbox transaction, the report conditioned on its absence, so of
// two deliveries racing one reports. The gateway and secret enforcers share it.
package enforcement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

// Report is an enforcer's report of a revocation, as the revocations table records it.
type Report struct {
	RevocationID string
	Enforcer     string
	PartnerID    string
	// EventID is the id of the Credential Revoked acted on.
	EventID    string
	EnforcedAt time.Time
	LatencyMS  int64
}

// Reports is the revocations table as an enforcer uses it.
type Reports interface {
	// Reported says whether enforcer's report of the revocation is recorded.
	Reported(ctx context.Context, revocationID, enforcer string) (bool, error)
	// Put is the transaction item that records r, conditioned on its absence.
	Put(r Report) (types.TransactWriteItem, error)
}

// Store is the revocations table (shared/stores/revocations) as Reports.
type Store struct {
	Revocations *revocations.Store
}

var _ Reports = Store{}

// Reported reads whether the report exists (a consistent read).
func (s Store) Reported(ctx context.Context, revocationID, enforcer string) (bool, error) {
	return s.Revocations.HasReport(ctx, revocationID, enforcer)
}

// Put is the report's item, conditioned on its absence.
func (s Store) Put(r Report) (types.TransactWriteItem, error) {
	return revocations.Reported(s.Revocations.Table, revocations.Report(r))
}

// Batch is a consumer's Lambda entry point over each: each record is handled in turn, and one
// that fails is reported in the partial batch response alone (SQS delivers it again, and after
// the consumer's maxReceiveCount it goes to the dead-letter queue).
func Batch(ctx context.Context, ev lambdaevents.SQSEvent, each func(ctx context.Context, body []byte) error) lambdaevents.SQSEventResponse {
	var resp lambdaevents.SQSEventResponse
	for _, rec := range ev.Records {
		if err := each(ctx, []byte(rec.Body)); err != nil {
			slog.ErrorContext(ctx, "revocation not enforced", "messageId", rec.MessageId, "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp
}

// Revoked decodes an SQS record's body (an EventBridge event) that must be a Credential
// Revoked naming its partner, revocation and time.
func Revoked(body []byte) (*events.CredentialRevoked, error) {
	env, d, err := events.Decode(body)
	if err != nil {
		return nil, err
	}
	rev, ok := d.(*events.CredentialRevoked)
	if !ok {
		return nil, fmt.Errorf("event %s is a %s, not a %s", env.ID, env.DetailType, events.TypeCredentialRevoked)
	}
	if rev.PartnerID == "" || rev.RevocationID == "" || rev.Time.IsZero() {
		return nil, fmt.Errorf("event %s lacks a partner, revocation id or time", rev.EventID)
	}
	return rev, nil
}

// Reporter reports one enforcer's revocations.
type Reporter struct {
	// Outbox commits the report with Revocation Enforced.
	Outbox  *outbox.Store
	Reports Reports
	// Enforcer is the enforcer's name (an events.Enforcer… constant) and Actor the system
	// actor of the events it commits.
	Enforcer string
	Actor    events.Actor
}

// Reported says whether the enforcer reported rev already (a duplicate delivery).
func (r Reporter) Reported(ctx context.Context, rev *events.CredentialRevoked) (bool, error) {
	done, err := r.Reports.Reported(ctx, rev.RevocationID, r.Enforcer)
	if err != nil {
		return false, fmt.Errorf("revocation %s: %w", rev.RevocationID, err)
	}
	return done, nil
}

// Committed is what Commit recorded.
type Committed struct {
	// LatencyMS is the latency reported: the report's time − the revocation's.
	LatencyMS int64
	// EventID is the id of the Revocation Enforced committed.
	EventID string
	// Duplicate: another delivery reported first, nothing was committed.
	Duplicate bool
}

// Commit commits the report of rev made at now with Revocation Enforced in one outbox
// transaction. A report committed meanwhile by another delivery is no error: Duplicate says so.
func (r Reporter) Commit(ctx context.Context, rev *events.CredentialRevoked, now time.Time) (Committed, error) {
	c := Committed{LatencyMS: now.Sub(rev.Time).Milliseconds()}
	item, err := r.Reports.Put(Report{RevocationID: rev.RevocationID, Enforcer: r.Enforcer, PartnerID: rev.PartnerID, EventID: rev.EventID,
		EnforcedAt: now, LatencyMS: c.LatencyMS})
	if err != nil {
		return Committed{}, fmt.Errorf("revocation %s: the report: %w", rev.RevocationID, err)
	}
	ev := &events.RevocationEnforced{Meta: events.NewMeta(rev.PartnerID, r.Actor, now), RevocationID: rev.RevocationID,
		Enforcer: r.Enforcer, LatencyMS: c.LatencyMS}
	_, err = r.Outbox.Commit(ctx, rev.PartnerID, ev, []types.TransactWriteItem{item})
	var changed *outbox.StateChangeError
	switch {
	case errors.As(err, &changed):
		slog.InfoContext(ctx, "revocation enforced meanwhile by another delivery", "enforcer", r.Enforcer,
			"revocationId", rev.RevocationID, "partnerId", rev.PartnerID, "eventId", rev.EventID)
		return Committed{LatencyMS: c.LatencyMS, Duplicate: true}, nil
	case err != nil:
		return Committed{}, fmt.Errorf("revocation %s: commit the report: %w", rev.RevocationID, err)
	}
	c.EventID = ev.EventID
	return c, nil
}
