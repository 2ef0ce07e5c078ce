// Package revocations keeps the revocations table: the state of each revocation from its commit
// to the proof that every enforcer acted on it.
//
// # The table
//
// The revocations table (topology name "revocations") is keyed by revocationId (S) and entry
// (S). A revocation's partition holds:
//
// The revocation item, entry "revocation", put in the same transaction as the registry flips
// and Credential Revoked (Open):
//
//	revocationId    S   partition key
//	entry           S   "revocation"
//	partnerId       S   GSI "by-partner" (with revokedAt) is keyed on it
//	keyIds          L   of S: the keys revoked, at least one
//	reason          S   compromised | leaked | offboarded | requested | other
//	note            S   free text; absent when empty
//	actor           M   kind (S: partner | ops | system) and id (S): who revoked
//	revokedAt       S   RFC 3339 (nanoseconds), UTC: Credential Revoked's time
//	status          S   pending | stalled | completed
//	open            S   "open" while not completed, absent once completed: the sparse GSI
//	                    "open" (with revokedAt) holds the revocations still waiting for reports
//	stalledAt       S   RFC 3339 (nanoseconds), UTC; absent until the budget ran out
//	completedAt     S   RFC 3339 (nanoseconds), UTC; absent until completed
//	timeToEnforceMs N   from revokedAt to the last report; absent until completed
//
// One report item per enforcer, entry "enforcer#<name>", put with its Revocation Enforced
// (Reported):
//
//	revocationId    S   partition key
//	entry           S   "enforcer#<name>"
//	enforcer        S   the enforcer's name (events.Enforcer*)
//	partnerId       S   the revocation's partner (no revokedAt: not in the by-partner index)
//	eventId         S   the Credential Revoked the enforcer acted on
//	enforcedAt      S   RFC 3339 (nanoseconds), UTC
//	latencyMs       N   from revokedAt to enforcedAt
//
// Puts are conditioned on the item's absence; the transitions (Stall, Complete) on the status
// read, so duplicate and out-of-order deliveries change nothing.
package revocations

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// Keys and indexes of the revocations table; the topology's declaration of table "revocations"
// must match.
const (
	PartitionKey = "revocationId" // S
	SortKey      = "entry"        // S
	// OpenIndex holds the revocations not completed: partition key AttrOpen, sort key
	// AttrRevokedAt.
	OpenIndex = "open"
	// PartnerIndex holds a partner's revocations: partition key AttrPartnerID, sort key
	// AttrRevokedAt. Report items carry no revokedAt, so they are not in it.
	PartnerIndex = "by-partner"
)

// Attribute names.
const (
	AttrRevocationID    = PartitionKey
	AttrEntry           = SortKey
	AttrPartnerID       = "partnerId"
	AttrKeyIDs          = "keyIds"
	AttrReason          = "reason"
	AttrNote            = "note"
	AttrActor           = "actor"
	AttrRevokedAt       = "revokedAt"
	AttrStatus          = "status"
	AttrOpen            = "open"
	AttrStalledAt       = "stalledAt"
	AttrCompletedAt     = "completedAt"
	AttrTimeToEnforceMS = "timeToEnforceMs"
	AttrEnforcer        = "enforcer"
	AttrEventID         = "eventId"
	AttrEnforcedAt      = "enforcedAt"
	AttrLatencyMS       = "latencyMs"
)

// Entries of a revocation's partition.
const (
	// EntryRevocation is the revocation item's sort key.
	EntryRevocation = "revocation"
	// EntryEnforcerPrefix starts a report item's sort key, followed by the enforcer's name.
	EntryEnforcerPrefix = "enforcer#"
	// OpenValue is the open attribute's one value.
	OpenValue = "open"
)

// Status is where a revocation is.
type Status string

// The statuses.
const (
	// StatusPending: committed, waiting for enforcers' reports, within its budget.
	StatusPending Status = "pending"
	// StatusStalled: the budget ran out before every enforcer reported; Revocation Stalled was
	// raised. It stays open: it completes when the missing reports arrive.
	StatusStalled Status = "stalled"
	// StatusCompleted: every enforcer declared reported; Revocation Completed was raised.
	StatusCompleted Status = "completed"
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusStalled, StatusCompleted:
		return true
	}
	return false
}

// Revocation is a revocation item.
type Revocation struct {
	ID        string
	PartnerID string
	KeyIDs    []string
	Reason    string
	Note      string
	Actor     events.Actor
	RevokedAt time.Time
	Status    Status
	// CompletedAt and StalledAt are zero until the revocation completed, or stalled.
	CompletedAt time.Time
	StalledAt   time.Time
	// TimeToEnforceMS runs from RevokedAt to the last report; 0 until completed.
	TimeToEnforceMS int64
}

// Open reports whether the revocation still waits for reports (pending or stalled).
func (r Revocation) Open() bool { return r.Status != StatusCompleted }

// Report is an enforcer's report item.
type Report struct {
	RevocationID string
	Enforcer     string
	PartnerID    string
	// EventID is the Credential Revoked the enforcer acted on.
	EventID    string
	EnforcedAt time.Time
	LatencyMS  int64
}

// EventReport is the report as Revocation Completed and Revocation Stalled carry it.
func (r Report) EventReport() events.EnforcerReport {
	return events.EnforcerReport{Enforcer: r.Enforcer, EnforcedAt: r.EnforcedAt.UTC(), LatencyMS: r.LatencyMS}
}

// Key is the table key of a revocation's entry.
func Key(revocationID, entry string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PartitionKey: &types.AttributeValueMemberS{Value: revocationID},
		SortKey:      &types.AttributeValueMemberS{Value: entry},
	}
}

// EnforcerEntry is the sort key of enforcer's report.
func EnforcerEntry(enforcer string) string { return EntryEnforcerPrefix + enforcer }

type actorItem struct {
	Kind string `dynamodbav:"kind"`
	ID   string `dynamodbav:"id"`
}

// revocationItem is a revocation as its table holds it.
type revocationItem struct {
	RevocationID    string         `dynamodbav:"revocationId"`
	Entry           string         `dynamodbav:"entry"`
	PartnerID       string         `dynamodbav:"partnerId"`
	KeyIDs          []string       `dynamodbav:"keyIds"`
	Reason          string         `dynamodbav:"reason"`
	Note            string         `dynamodbav:"note,omitempty"`
	Actor           actorItem      `dynamodbav:"actor"`
	RevokedAt       attrtime.Time  `dynamodbav:"revokedAt"`
	Status          Status         `dynamodbav:"status"`
	Open            string         `dynamodbav:"open,omitempty"`
	StalledAt       *attrtime.Time `dynamodbav:"stalledAt,omitempty"`
	CompletedAt     *attrtime.Time `dynamodbav:"completedAt,omitempty"`
	TimeToEnforceMS int64          `dynamodbav:"timeToEnforceMs,omitempty"`
}

// reportItem is a report as its table holds it.
type reportItem struct {
	RevocationID string        `dynamodbav:"revocationId"`
	Entry        string        `dynamodbav:"entry"`
	Enforcer     string        `dynamodbav:"enforcer"`
	PartnerID    string        `dynamodbav:"partnerId"`
	EventID      string        `dynamodbav:"eventId"`
	EnforcedAt   attrtime.Time `dynamodbav:"enforcedAt"`
	LatencyMS    int64         `dynamodbav:"latencyMs"`
}

// Item renders the revocation as its table item: open while its status is not completed.
func (r Revocation) Item() (map[string]types.AttributeValue, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	it := revocationItem{
		RevocationID: r.ID, Entry: EntryRevocation, PartnerID: r.PartnerID, KeyIDs: slices.Clone(r.KeyIDs),
		Reason: r.Reason, Note: r.Note, Actor: actorItem{Kind: r.Actor.Kind, ID: r.Actor.ID},
		RevokedAt: attrtime.Of(r.RevokedAt), Status: r.Status,
		StalledAt: attrtime.Opt(r.StalledAt), CompletedAt: attrtime.Opt(r.CompletedAt), TimeToEnforceMS: r.TimeToEnforceMS,
	}
	if r.Open() {
		it.Open = OpenValue
	}
	m, err := attributevalue.MarshalMap(it)
	if err != nil {
		return nil, fmt.Errorf("revocation item %s: %w", r.ID, err)
	}
	return m, nil
}

func (r Revocation) check() error {
	var errs []error
	if r.ID == "" {
		errs = append(errs, errors.New("no revocation id"))
	}
	if r.PartnerID == "" {
		errs = append(errs, errors.New("no partner id"))
	}
	if len(r.KeyIDs) == 0 || slices.Contains(r.KeyIDs, "") {
		errs = append(errs, errors.New("no key ids, or an empty one"))
	}
	if r.Reason == "" {
		errs = append(errs, errors.New("no reason"))
	}
	if r.Actor.Kind == "" || r.Actor.ID == "" {
		errs = append(errs, errors.New("no actor"))
	}
	if r.RevokedAt.IsZero() {
		errs = append(errs, errors.New("no revokedAt"))
	}
	if !r.Status.Valid() {
		errs = append(errs, fmt.Errorf("status %q is not pending, stalled or completed", r.Status))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("revocation item %s: %w", r.ID, err)
	}
	return nil
}

// Item renders the report as its table item.
func (r Report) Item() (map[string]types.AttributeValue, error) {
	switch {
	case r.RevocationID == "" || r.Enforcer == "" || r.PartnerID == "" || r.EventID == "" || r.EnforcedAt.IsZero():
		return nil, fmt.Errorf("report of enforcer %q on revocation %s: revocation id, enforcer, partner, event id and enforcedAt are required", r.Enforcer, r.RevocationID)
	case strings.Contains(r.Enforcer, "#"):
		return nil, fmt.Errorf("report of enforcer %q on revocation %s: an enforcer's name has no #", r.Enforcer, r.RevocationID)
	}
	m, err := attributevalue.MarshalMap(reportItem{
		RevocationID: r.RevocationID, Entry: EnforcerEntry(r.Enforcer), Enforcer: r.Enforcer, PartnerID: r.PartnerID,
		EventID: r.EventID, EnforcedAt: attrtime.Of(r.EnforcedAt), LatencyMS: r.LatencyMS,
	})
	if err != nil {
		return nil, fmt.Errorf("report item %s of %s: %w", r.Enforcer, r.RevocationID, err)
	}
	return m, nil
}

// RevocationFromItem reads a revocation item; every attribute wrong is named in the error.
func RevocationFromItem(item map[string]types.AttributeValue) (Revocation, error) {
	rd := itemread.New(item)
	r := Revocation{
		ID:        rd.String(AttrRevocationID, true),
		PartnerID: rd.String(AttrPartnerID, true),
		Reason:    rd.String(AttrReason, true),
		Note:      rd.String(AttrNote, false),
		RevokedAt: rd.Time(AttrRevokedAt, true),
		Status:    Status(rd.String(AttrStatus, true)),
	}
	if e := rd.String(AttrEntry, true); e != EntryRevocation {
		rd.Add(fmt.Errorf("attribute %s %q is not %q", AttrEntry, e, EntryRevocation))
	}
	r.KeyIDs = stringList(rd, item, AttrKeyIDs)
	switch a := item[AttrActor].(type) {
	case *types.AttributeValueMemberM:
		ar := itemread.New(a.Value)
		r.Actor = events.Actor{Kind: ar.String("kind", true), ID: ar.String("id", true)}
		if err := ar.Err(); err != nil {
			rd.Add(fmt.Errorf("attribute %s: %w", AttrActor, err))
		}
	default:
		rd.Add(fmt.Errorf("attribute %s missing or not a map", AttrActor))
	}
	if r.Status != "" && !r.Status.Valid() {
		rd.Add(fmt.Errorf("attribute %s %q is not pending, stalled or completed", AttrStatus, r.Status))
	}
	open := rd.String(AttrOpen, false)
	if (open == OpenValue) != r.Open() {
		rd.Add(fmt.Errorf("attribute %s %q does not agree with status %q", AttrOpen, open, r.Status))
	}
	r.StalledAt = rd.Time(AttrStalledAt, false)
	r.CompletedAt = rd.Time(AttrCompletedAt, false)
	r.TimeToEnforceMS = rd.Number(AttrTimeToEnforceMS, false)
	if err := rd.Err(); err != nil {
		return Revocation{}, fmt.Errorf("revocation item %s: %w", r.ID, err)
	}
	return r, nil
}

func stringList(rd *itemread.Reader, item map[string]types.AttributeValue, name string) []string {
	l, ok := item[name].(*types.AttributeValueMemberL)
	if !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a list", name))
		return nil
	}
	out := make([]string, 0, len(l.Value))
	for i, v := range l.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok || s.Value == "" {
			rd.Add(fmt.Errorf("attribute %s: element %d is not a non-empty string", name, i))
			continue
		}
		out = append(out, s.Value)
	}
	return out
}

// ReportFromItem reads a report item.
func ReportFromItem(item map[string]types.AttributeValue) (Report, error) {
	rd := itemread.New(item)
	r := Report{
		RevocationID: rd.String(AttrRevocationID, true),
		Enforcer:     rd.String(AttrEnforcer, true),
		PartnerID:    rd.String(AttrPartnerID, true),
		EventID:      rd.String(AttrEventID, true),
		EnforcedAt:   rd.Time(AttrEnforcedAt, true),
		LatencyMS:    rd.Number(AttrLatencyMS, true),
	}
	if e := rd.String(AttrEntry, true); e != EnforcerEntry(r.Enforcer) {
		rd.Add(fmt.Errorf("attribute %s %q does not name enforcer %q", AttrEntry, e, r.Enforcer))
	}
	if err := rd.Err(); err != nil {
		return Report{}, fmt.Errorf("report item of revocation %s: %w", r.RevocationID, err)
	}
	return r, nil
}

// Open is the Put of a new revocation (status pending, open), conditioned on its absence: the
// revoke handlers put it in the same transaction as the registry flips and Credential Revoked.
func Open(table string, r Revocation) (types.TransactWriteItem, error) {
	r.Status = StatusPending
	r.CompletedAt, r.StalledAt, r.TimeToEnforceMS = time.Time{}, time.Time{}, 0
	item, err := r.Item()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return putNew(table, item), nil
}

// Reported is the Put of an enforcer's report, conditioned on its absence (a second delivery
// of the same revocation cancels the transaction): enforcers commit it with Revocation Enforced.
func Reported(table string, r Report) (types.TransactWriteItem, error) {
	item, err := r.Item()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return putNew(table, item), nil
}

func putNew(table string, item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}}
}

// Stall is the update that marks a pending revocation stalled at stalledAt; it stays open. It
// fails its condition unless the revocation is still pending (a second check, or a completion
// that came first, changes nothing).
func Stall(table, revocationID string, stalledAt time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                aws.String(table),
		Key:                      Key(revocationID, EntryRevocation),
		UpdateExpression:         aws.String("SET #status = :stalled, #stalledAt = :at"),
		ConditionExpression:      aws.String("#status = :pending"),
		ExpressionAttributeNames: map[string]string{"#status": AttrStatus, "#stalledAt": AttrStalledAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":stalled": &types.AttributeValueMemberS{Value: string(StatusStalled)},
			":pending": &types.AttributeValueMemberS{Value: string(StatusPending)},
			":at":      &types.AttributeValueMemberS{Value: attrtime.Format(stalledAt)},
		},
	}}
}

// Complete is the update that completes a revocation read with status read (pending or
// stalled): status completed, completedAt, timeToEnforceMs, and open removed. It fails its
// condition when the status is no longer the one read.
func Complete(table, revocationID string, read Status, completedAt time.Time, timeToEnforceMS int64) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           aws.String(table),
		Key:                 Key(revocationID, EntryRevocation),
		UpdateExpression:    aws.String("SET #status = :completed, #completedAt = :at, #tte = :tte REMOVE #open"),
		ConditionExpression: aws.String("#status = :read"),
		ExpressionAttributeNames: map[string]string{
			"#status": AttrStatus, "#completedAt": AttrCompletedAt, "#tte": AttrTimeToEnforceMS, "#open": AttrOpen,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":completed": &types.AttributeValueMemberS{Value: string(StatusCompleted)},
			":read":      &types.AttributeValueMemberS{Value: string(read)},
			":at":        &types.AttributeValueMemberS{Value: attrtime.Format(completedAt)},
			":tte":       &types.AttributeValueMemberN{Value: fmt.Sprint(timeToEnforceMS)},
		},
	}}
}
