// Package invites keeps the invites table: one item per invite, put by the invite feature when
// ops issue one (PutNew), read when a partner onboards with its code (Get), and marked redeemed
// inside the onboarding's transaction (Redeem). The code itself is never stored: the item is
// keyed by its hash.
//
// # The table
//
// The invites table (topology name "invites") is keyed by inviteHash (S) and expires items
// through its TTL attribute purgeAt. An item holds: inviteHash ("sha256:<hex>"), inviteId
// ("inv-" and 26 lowercase base32 characters, not a secret: logs and the audit trail name the
// invite by it), partnerName, tier, status ("issued" or "redeemed"), expiresAt (S, RFC 3339 in
// UTC, whole seconds), expiresAtEpoch (N, the same instant in unix seconds, for conditions),
// purgeAt (N, expiresAtEpoch + 30 days), createdAt, createdBy (the caller's IAM ARN), and,
// once redeemed, redeemedBy (the partner id) and redeemedAt.
//
// # One use
//
// An invite works while it is issued and now is before expiresAt (Invite.Usable). Redeem is
// conditioned on the same rule, so two onboardings with one code cannot both commit and an
// invite that expired between the lookup and the commit is refused by DynamoDB itself.
package invites

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// PartitionKey is the key attribute of the invites table; the topology's declaration of table
// "invites" must match.
const PartitionKey = "inviteHash" // S

// TTLAttribute is the invites table's TTL attribute.
const TTLAttribute = "purgeAt" // N

// PurgeAfter is how long an invite item is kept past its expiry before DynamoDB's TTL may
// delete it: long enough to answer "what happened to this invite?".
const PurgeAfter = 30 * 24 * time.Hour

// Attribute names of an invite item.
const (
	attrInviteID       = "inviteId"
	attrPartnerName    = "partnerName"
	attrTier           = "tier"
	attrStatus         = "status"
	attrExpiresAt      = "expiresAt"
	attrExpiresAtEpoch = "expiresAtEpoch"
	attrCreatedAt      = "createdAt"
	attrCreatedBy      = "createdBy"
	attrRedeemedBy     = "redeemedBy"
	attrRedeemedAt     = "redeemedAt"
)

// Status is the state of an invite.
type Status string

// The states of an invite.
const (
	StatusIssued   Status = "issued"
	StatusRedeemed Status = "redeemed"
)

// Invite is one invite as the table holds it: everything but the code.
type Invite struct {
	// Hash is the hash of the invite's code, the table key.
	Hash        string
	ID          string
	PartnerName string
	Tier        string
	Status      Status
	// ExpiresAt is when the invite stops working, in whole seconds.
	ExpiresAt  time.Time
	CreatedAt  time.Time
	CreatedBy  string
	RedeemedBy string    // the partner id, once redeemed
	RedeemedAt time.Time // zero until redeemed
}

// Usable says whether the invite can be redeemed at now: issued, and now before ExpiresAt (to
// the second, as Redeem's condition compares expiresAtEpoch). When it cannot, reason says why.
func (i Invite) Usable(now time.Time) (ok bool, reason string) {
	switch {
	case i.Status == StatusRedeemed:
		return false, "redeemed"
	case i.Status != StatusIssued:
		return false, "status " + strconv.Quote(string(i.Status))
	case now.Unix() >= i.ExpiresAt.Unix():
		return false, "expired"
	}
	return true, ""
}

// FormatTime renders a time as the table stores it: RFC 3339 in UTC with Go's RFC3339Nano
// fraction.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Key is the invites table key of the invite whose code hashes to hash.
func Key(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: &types.AttributeValueMemberS{Value: hash}}
}

// item is an invite as its table holds it.
type item struct {
	Hash           string         `dynamodbav:"inviteHash"`
	ID             string         `dynamodbav:"inviteId"`
	PartnerName    string         `dynamodbav:"partnerName"`
	Tier           string         `dynamodbav:"tier"`
	Status         Status         `dynamodbav:"status"`
	ExpiresAt      attrtime.Time  `dynamodbav:"expiresAt"`
	ExpiresAtEpoch int64          `dynamodbav:"expiresAtEpoch"`
	PurgeAt        int64          `dynamodbav:"purgeAt"`
	CreatedAt      attrtime.Time  `dynamodbav:"createdAt"`
	CreatedBy      string         `dynamodbav:"createdBy"`
	RedeemedBy     string         `dynamodbav:"redeemedBy,omitempty"`
	RedeemedAt     *attrtime.Time `dynamodbav:"redeemedAt,omitempty"`
}

// Item renders the invite as its table item.
func (i Invite) Item() (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(item{
		Hash: i.Hash, ID: i.ID, PartnerName: i.PartnerName, Tier: i.Tier, Status: i.Status,
		ExpiresAt: attrtime.Of(i.ExpiresAt), ExpiresAtEpoch: i.ExpiresAt.Unix(), PurgeAt: i.ExpiresAt.Add(PurgeAfter).Unix(),
		CreatedAt: attrtime.Of(i.CreatedAt), CreatedBy: i.CreatedBy,
		RedeemedBy: i.RedeemedBy, RedeemedAt: attrtime.Opt(i.RedeemedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("invite item %q: %w", i.ID, err)
	}
	return m, nil
}

// FromItem reads an invite from its table item. It stays hand-written: its errors name the
// attribute that is missing or of another type, and it checks expiresAtEpoch against expiresAt.
func FromItem(item map[string]types.AttributeValue) (Invite, error) {
	rd := itemread.New(item)
	str := rd.String
	tm := rd.Time
	i := Invite{
		Hash:        str(PartitionKey, true),
		ID:          str(attrInviteID, true),
		PartnerName: str(attrPartnerName, true),
		Tier:        str(attrTier, true),
		Status:      Status(str(attrStatus, true)),
		ExpiresAt:   tm(attrExpiresAt, true),
		CreatedAt:   tm(attrCreatedAt, true),
		CreatedBy:   str(attrCreatedBy, true),
		RedeemedBy:  str(attrRedeemedBy, false),
		RedeemedAt:  tm(attrRedeemedAt, false),
	}
	// expiresAtEpoch is what Redeem's condition reads: it must say what expiresAt says.
	if n, ok := item[attrExpiresAtEpoch].(*types.AttributeValueMemberN); !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a number", attrExpiresAtEpoch))
	} else if v, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
		rd.Add(fmt.Errorf("attribute %s: %w", attrExpiresAtEpoch, err))
	} else if !i.ExpiresAt.IsZero() && v != i.ExpiresAt.Unix() {
		rd.Add(fmt.Errorf("attribute %s is %d, but %s is %s", attrExpiresAtEpoch, v, attrExpiresAt, FormatTime(i.ExpiresAt)))
	}
	if err := rd.Err(); err != nil {
		return Invite{}, fmt.Errorf("invite item %q: %w", i.ID, err)
	}
	return i, nil
}

// PutNew is the put that writes the new invite inv to table, only if no item has its hash.
func PutNew(table string, inv Invite) (*dynamodb.PutItemInput, error) {
	item, err := inv.Item()
	if err != nil {
		return nil, err
	}
	return &dynamodb.PutItemInput{
		TableName:                aws.String(table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}, nil
}

// Reader is the part of the DynamoDB client Get uses.
type Reader interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// Get reads the invite whose code hashes to hash from table with a strongly consistent read,
// so an invite redeemed a moment ago is seen as redeemed; found is false when there is none.
func Get(ctx context.Context, db Reader, table, hash string) (inv Invite, found bool, err error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            Key(hash),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Invite{}, false, err
	}
	if len(out.Item) == 0 {
		return Invite{}, false, nil
	}
	inv, err = FromItem(out.Item)
	if err != nil {
		return Invite{}, false, err
	}
	return inv, true, nil
}

// Redeem is the transaction item that marks inv redeemed by partnerID at now: an Update of its
// item in table on condition that it exists, is still issued and has not expired at now
// (expiresAtEpoch > now in unix seconds). Onboarding puts it into the transaction that creates
// the partner, so the invite is used exactly when the partner is created; a cancellation on
// this item means the invite was redeemed by someone else or expired meanwhile.
func Redeem(table string, inv Invite, partnerID string, now time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           aws.String(table),
		Key:                 Key(inv.Hash),
		UpdateExpression:    aws.String("SET #status = :redeemed, #redeemedBy = :partner, #redeemedAt = :at"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status = :issued AND #expiresAtEpoch > :now"),
		ExpressionAttributeNames: map[string]string{
			"#pk":             PartitionKey,
			"#status":         attrStatus,
			"#redeemedBy":     attrRedeemedBy,
			"#redeemedAt":     attrRedeemedAt,
			"#expiresAtEpoch": attrExpiresAtEpoch,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":redeemed": &types.AttributeValueMemberS{Value: string(StatusRedeemed)},
			":issued":   &types.AttributeValueMemberS{Value: string(StatusIssued)},
			":partner":  &types.AttributeValueMemberS{Value: partnerID},
			":at":       &types.AttributeValueMemberS{Value: FormatTime(now)},
			":now":      number(now.Unix()),
		},
	}}
}

func number(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
