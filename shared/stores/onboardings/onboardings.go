// Package onboardings keeps the onboardings table: one item per onboarding that needed an ops
// approval, put pending inside the onboarding's transaction (PutPending), decided by ops
// (Decide), collected by the partner's pick-up (Collect) or sealed once expired
// (SealExpired), and read by Get. The onboarding feature decides; this package writes what it
// decided.
//
// # The table
//
// The onboardings table (topology name "onboardings") is keyed by onboardingId (S) and expires
// items through its TTL attribute purgeAt (N, expiresAt + 30 days). An item holds: onboardingId,
// partnerId and secretVersionId (reserved for the pick-up), partnerName, tier, scopes (L of S,
// sorted), identityMethod with inviteId or accountId and arn, pickupTokenHash, status,
// justification, policyRevision (N), createdAt and expiresAt (S, RFC 3339 in UTC), expiresAtMs
// (N, expiresAt in unix milliseconds, for conditions), and once decided decidedBy, decidedAt,
// reason (when given), and once collected collectedAt.
package onboardings

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// The onboardings table's key and TTL attribute; the topology's declaration of table
// "onboardings" must match.
const (
	PartitionKey = "onboardingId" // S
	TTLAttribute = "purgeAt"      // N
)

// PurgeAfter is how long an onboarding item is kept past its expiry before DynamoDB's TTL may
// delete it: long enough for ops to see what became of it.
const PurgeAfter = 30 * 24 * time.Hour

// Status is the state of an onboarding.
type Status string

// The states of an onboarding. An onboarding is created pending; ops approve or deny it; the
// partner collects an approved one. StatusExpired is stored only when a pick-up refused after
// expiry seals an approved onboarding (so the secret it may have created can be deleted
// safely); otherwise expiry is read from expiresAt (Onboarding.Effective).
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusCollected Status = "collected"
	StatusExpired   Status = "expired"
)

// Statuses lists every status an onboarding may show, in its life's order.
func Statuses() []Status {
	return []Status{StatusPending, StatusApproved, StatusDenied, StatusCollected, StatusExpired}
}

// Attribute names of an onboarding item.
const (
	attrOnbPartnerID       = "partnerId"
	attrOnbSecretVersionID = "secretVersionId"
	attrOnbPartnerName     = "partnerName"
	attrOnbTier            = "tier"
	attrOnbScopes          = "scopes"
	attrOnbIdentityMethod  = "identityMethod"
	attrOnbInviteID        = "inviteId"
	attrOnbAccountID       = "accountId"
	attrOnbARN             = "arn"
	attrOnbTokenHash       = "pickupTokenHash"
	attrOnbStatus          = "status"
	attrOnbJustification   = "justification"
	attrOnbPolicyRevision  = "policyRevision"
	attrOnbCreatedAt       = "createdAt"
	attrOnbExpiresAt       = "expiresAt"
	attrOnbExpiresAtEpoch  = "expiresAtMs"
	attrOnbDecidedBy       = "decidedBy"
	attrOnbDecidedAt       = "decidedAt"
	attrOnbReason          = "reason"
	attrOnbCollectedAt     = "collectedAt"
)

// Onboarding is one onboarding that needed an ops approval, as the onboardings table holds it:
// the decision onboarding made on the request, and what became of it. The pick-up token is kept
// as its hash only.
type Onboarding struct {
	ID string
	// PartnerID and SecretVersionID are reserved at onboarding for the pick-up: the partner's
	// id, and the ClientRequestToken of its secret's first version.
	PartnerID       string
	SecretVersionID string
	PartnerName     string
	Tier            string
	Scopes          []string // sorted
	// IdentityMethod is events.ProofInvite (with InviteID) or events.ProofSTS (with AccountID
	// and ARN).
	IdentityMethod string
	InviteID       string
	AccountID      string
	ARN            string
	// PickupTokenHash is what the feature keeps of the pick-up token: "sha256:<hex>".
	PickupTokenHash string
	Status          Status
	// Justification and PolicyRevision are the scope decision's.
	Justification  string
	PolicyRevision int
	CreatedAt      time.Time
	// ExpiresAt ends both the wait for ops and the pick-up (whole milliseconds).
	ExpiresAt time.Time
	// DecidedBy (an IAM ARN), DecidedAt and Reason are set by the approval or denial.
	DecidedBy   string
	DecidedAt   time.Time
	Reason      string
	CollectedAt time.Time
}

// Effective is the onboarding's status at now: a pending or approved onboarding past its
// ExpiresAt is expired.
func (o Onboarding) Effective(now time.Time) Status {
	if (o.Status == StatusPending || o.Status == StatusApproved) && !now.Before(o.ExpiresAt) {
		return StatusExpired
	}
	return o.Status
}

// Identity is the onboarding's identity proof as events carry it.
func (o Onboarding) Identity() events.Identity {
	return events.Identity{Method: o.IdentityMethod, AccountID: o.AccountID, ARN: o.ARN}
}

// FormatTime renders a time as the table stores it: RFC 3339 in UTC with Go's RFC3339Nano
// fraction.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Key is the onboardings table key of id.
func Key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(id)}
}

// item is an onboarding as its table holds it.
type item struct {
	ID              string         `dynamodbav:"onboardingId"`
	PartnerID       string         `dynamodbav:"partnerId"`
	SecretVersionID string         `dynamodbav:"secretVersionId"`
	PartnerName     string         `dynamodbav:"partnerName"`
	Tier            string         `dynamodbav:"tier"`
	Scopes          []string       `dynamodbav:"scopes"` // L, sorted; never NULL
	IdentityMethod  string         `dynamodbav:"identityMethod"`
	InviteID        string         `dynamodbav:"inviteId,omitempty"`
	AccountID       string         `dynamodbav:"accountId,omitempty"`
	ARN             string         `dynamodbav:"arn,omitempty"`
	PickupTokenHash string         `dynamodbav:"pickupTokenHash"`
	Status          Status         `dynamodbav:"status"`
	Justification   string         `dynamodbav:"justification"`
	PolicyRevision  int            `dynamodbav:"policyRevision"`
	CreatedAt       attrtime.Time  `dynamodbav:"createdAt"`
	ExpiresAt       attrtime.Time  `dynamodbav:"expiresAt"`
	ExpiresAtMs     int64          `dynamodbav:"expiresAtMs"`
	PurgeAt         int64          `dynamodbav:"purgeAt"`
	DecidedBy       string         `dynamodbav:"decidedBy,omitempty"`
	DecidedAt       *attrtime.Time `dynamodbav:"decidedAt,omitempty"`
	Reason          string         `dynamodbav:"reason,omitempty"`
	CollectedAt     *attrtime.Time `dynamodbav:"collectedAt,omitempty"`
}

// Item renders the onboarding as its table item.
func (o Onboarding) Item() (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(item{
		ID: o.ID, PartnerID: o.PartnerID, SecretVersionID: o.SecretVersionID, PartnerName: o.PartnerName, Tier: o.Tier,
		Scopes:         append(make([]string, 0, len(o.Scopes)), slices.Sorted(slices.Values(o.Scopes))...),
		IdentityMethod: o.IdentityMethod, InviteID: o.InviteID, AccountID: o.AccountID, ARN: o.ARN,
		PickupTokenHash: o.PickupTokenHash, Status: o.Status, Justification: o.Justification,
		PolicyRevision: o.PolicyRevision, CreatedAt: attrtime.Of(o.CreatedAt), ExpiresAt: attrtime.Of(o.ExpiresAt),
		ExpiresAtMs: o.ExpiresAt.UnixMilli(), PurgeAt: o.ExpiresAt.Add(PurgeAfter).Unix(),
		DecidedBy: o.DecidedBy, DecidedAt: attrtime.Opt(o.DecidedAt), Reason: o.Reason, CollectedAt: attrtime.Opt(o.CollectedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("onboarding item %q: %w", o.ID, err)
	}
	return m, nil
}

// FromItem reads an onboarding from its table item. It stays hand-written: its errors name the
// attribute that is missing or of another type, and it checks that the item holds together.
func FromItem(item map[string]types.AttributeValue) (Onboarding, error) {
	rd := itemread.New(item)
	s := rd.String
	tm := rd.Time
	o := Onboarding{
		ID:              s(PartitionKey, true),
		PartnerID:       s(attrOnbPartnerID, true),
		SecretVersionID: s(attrOnbSecretVersionID, true),
		PartnerName:     s(attrOnbPartnerName, true),
		Tier:            s(attrOnbTier, true),
		IdentityMethod:  s(attrOnbIdentityMethod, true),
		InviteID:        s(attrOnbInviteID, false),
		AccountID:       s(attrOnbAccountID, false),
		ARN:             s(attrOnbARN, false),
		PickupTokenHash: s(attrOnbTokenHash, true),
		Status:          Status(s(attrOnbStatus, true)),
		Justification:   s(attrOnbJustification, true),
		CreatedAt:       tm(attrOnbCreatedAt, true),
		ExpiresAt:       tm(attrOnbExpiresAt, true),
		DecidedBy:       s(attrOnbDecidedBy, false),
		DecidedAt:       tm(attrOnbDecidedAt, false),
		Reason:          s(attrOnbReason, false),
		CollectedAt:     tm(attrOnbCollectedAt, false),
	}
	if n, ok := item[attrOnbPolicyRevision].(*types.AttributeValueMemberN); !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a number", attrOnbPolicyRevision))
	} else if v, err := strconv.Atoi(n.Value); err != nil {
		rd.Add(fmt.Errorf("attribute %s: %w", attrOnbPolicyRevision, err))
	} else {
		o.PolicyRevision = v
	}
	// expiresAtEpoch is what the conditions read: it must say what expiresAt says.
	if n, ok := item[attrOnbExpiresAtEpoch].(*types.AttributeValueMemberN); !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a number", attrOnbExpiresAtEpoch))
	} else if v, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
		rd.Add(fmt.Errorf("attribute %s: %w", attrOnbExpiresAtEpoch, err))
	} else if !o.ExpiresAt.IsZero() && v != o.ExpiresAt.UnixMilli() {
		rd.Add(fmt.Errorf("attribute %s is %d, but %s is %s", attrOnbExpiresAtEpoch, v, attrOnbExpiresAt, FormatTime(o.ExpiresAt)))
	}
	if l, ok := item[attrOnbScopes].(*types.AttributeValueMemberL); !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a list", attrOnbScopes))
	} else {
		o.Scopes = make([]string, 0, len(l.Value))
		for i, v := range l.Value {
			sv, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				rd.Add(fmt.Errorf("attribute %s[%d] is not a string", attrOnbScopes, i))
				continue
			}
			o.Scopes = append(o.Scopes, sv.Value)
		}
	}
	if !slices.Contains(Statuses(), o.Status) {
		rd.Add(fmt.Errorf("attribute %s is %q", attrOnbStatus, o.Status))
	}
	switch o.IdentityMethod {
	case events.ProofInvite:
		if o.InviteID == "" {
			rd.Add(fmt.Errorf("identity method %s without %s", o.IdentityMethod, attrOnbInviteID))
		}
	case events.ProofSTS:
		if o.AccountID == "" || o.ARN == "" {
			rd.Add(fmt.Errorf("identity method %s without %s and %s", o.IdentityMethod, attrOnbAccountID, attrOnbARN))
		}
	default:
		rd.Add(fmt.Errorf("attribute %s is %q", attrOnbIdentityMethod, o.IdentityMethod))
	}
	if err := rd.Err(); err != nil {
		return Onboarding{}, fmt.Errorf("onboarding item %q: %w", o.ID, err)
	}
	return o, nil
}

// Reader is the part of the DynamoDB client Get uses.
type Reader interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Get reads the onboarding id with a consistent read; found is false when there is
// none.
func Get(ctx context.Context, db Reader, table, id string) (o Onboarding, found bool, err error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Onboarding{}, false, fmt.Errorf("get onboarding %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Onboarding{}, false, nil
	}
	o, err = FromItem(out.Item)
	if err != nil {
		return Onboarding{}, false, fmt.Errorf("get onboarding %s: %w", id, err)
	}
	return o, true, nil
}

// PutPending is the transaction item that records the new pending onboarding o, only if no
// onboarding has its id.
func PutPending(table string, o Onboarding) (types.TransactWriteItem, error) {
	item, err := o.Item()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}}, nil
}

// Decide is the Update that moves onboarding id from pending to status (approved or denied) by
// decidedBy at now, with reason (none when empty): only if it is still pending and has not
// expired at now.
func Decide(table, id string, status Status, decidedBy, reason string, now time.Time) *types.Update {
	names := map[string]string{
		"#pk": PartitionKey, "#status": attrOnbStatus, "#exp": attrOnbExpiresAtEpoch,
		"#by": attrOnbDecidedBy, "#at": attrOnbDecidedAt,
	}
	values := map[string]types.AttributeValue{
		":status": str(string(status)), ":pending": str(string(StatusPending)), ":now": num(now.UnixMilli()),
		":by": str(decidedBy), ":at": str(FormatTime(now)),
	}
	set := "SET #status = :status, #by = :by, #at = :at"
	if reason != "" {
		names["#reason"], values[":reason"] = attrOnbReason, str(reason)
		set += ", #reason = :reason"
	}
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(id),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #status = :pending AND #exp > :now"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// Collect is the transaction item that marks onboarding o collected at now: only if it is
// approved, has not expired at now and still holds the token's hash.
func Collect(table string, o Onboarding, now time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:        aws.String(table),
		Key:              Key(o.ID),
		UpdateExpression: aws.String("SET #status = :collected, #collectedAt = :at"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status = :approved AND #exp > :now " +
			"AND #hash = :hash AND #partner = :partner"),
		ExpressionAttributeNames: map[string]string{
			"#pk": PartitionKey, "#status": attrOnbStatus, "#collectedAt": attrOnbCollectedAt,
			"#exp": attrOnbExpiresAtEpoch, "#hash": attrOnbTokenHash, "#partner": attrOnbPartnerID,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":collected": str(string(StatusCollected)), ":approved": str(string(StatusApproved)),
			":at": str(FormatTime(now)), ":now": num(now.UnixMilli()),
			":hash": str(o.PickupTokenHash), ":partner": str(o.PartnerID),
		},
	}}
}

// SealExpired is the update that marks the approved onboarding id expired once its expiry is
// past at now, so that no pick-up can collect it any more, whatever its clock says.
func SealExpired(table, id string, now time.Time) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 Key(id),
		UpdateExpression:    aws.String("SET #status = :expired"),
		ConditionExpression: aws.String("#status = :approved AND #exp <= :now"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrOnbStatus, "#exp": attrOnbExpiresAtEpoch,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":expired": str(string(StatusExpired)), ":approved": str(string(StatusApproved)), ":now": num(now.UnixMilli()),
		},
	}
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
