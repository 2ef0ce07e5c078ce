// Package replacements keeps the replacements table: one item per replacement key ops had
// issued after a compromise (the revocation's reissue), put in the revocation's transaction
// (Put), read by the partner's pick-up (Get) and marked collected by it (Collect), once.
//
// # The table
//
// The replacements table (topology name "replacements") is keyed by replacementId (S) and
// expires items through its TTL attribute purgeAt (N, expiresAt + PurgeAfter). An item holds:
// replacementId, partnerId, revocationId (the revocation that issued it), keyId, secretArn and
// secretVersionId (where the key lives), pickupTokenHash ("sha256:<hex>": the pick-up token is
// never stored), status ("waiting" | "collected"), createdAt and expiresAt (S, RFC 3339 in
// UTC), expiresAtMs (N, expiresAt in unix milliseconds, for conditions), and once collected
// collectedAt.
package replacements

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// The replacements table's key and TTL attribute; the topology's declaration of table
// "replacements" must match.
const (
	PartitionKey = "replacementId" // S
	TTLAttribute = "purgeAt"       // N
)

// PurgeAfter is how long an item is kept past its expiry before DynamoDB's TTL may delete it:
// long enough for ops to see whether the partner collected its key.
const PurgeAfter = 30 * 24 * time.Hour

// IDPrefix starts every replacement id.
const IDPrefix = "rpl-"

// Status is where a replacement's pick-up is.
type Status string

// The statuses: a replacement waits for its pick-up until collected (or past its expiry,
// which is read from expiresAt).
const (
	StatusWaiting   Status = "waiting"
	StatusCollected Status = "collected"
)

const (
	attrPartnerID       = "partnerId"
	attrRevocationID    = "revocationId"
	attrKeyID           = "keyId"
	attrSecretARN       = "secretArn"
	attrSecretVersionID = "secretVersionId"
	attrTokenHash       = "pickupTokenHash"
	attrStatus          = "status"
	attrCreatedAt       = "createdAt"
	attrExpiresAt       = "expiresAt"
	attrExpiresAtMs     = "expiresAtMs"
	attrCollectedAt     = "collectedAt"
)

// Replacement is one replacement key waiting for, or past, its pick-up.
type Replacement struct {
	ID              string
	PartnerID       string
	RevocationID    string
	KeyID           string
	SecretARN       string
	SecretVersionID string
	// PickupTokenHash is what is kept of the pick-up token: "sha256:<hex>".
	PickupTokenHash string
	Status          Status
	CreatedAt       time.Time
	// ExpiresAt ends the pick-up (whole milliseconds).
	ExpiresAt   time.Time
	CollectedAt time.Time
}

// NewID returns a new replacement id: IDPrefix and 26 lowercase base32 characters (128 bits)
// from crypto/rand.
func NewID() string { return IDPrefix + strings.ToLower(rand.Text()) }

// ValidID reports whether id has the shape NewID gives.
func ValidID(id string) bool {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// Collectable reports whether the replacement may still be picked up at now: waiting and not
// expired.
func (r Replacement) Collectable(now time.Time) bool {
	return r.Status == StatusWaiting && now.Before(r.ExpiresAt)
}

// Key is the table key of replacement id.
func Key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(id)}
}

type item struct {
	ID              string         `dynamodbav:"replacementId"`
	PartnerID       string         `dynamodbav:"partnerId"`
	RevocationID    string         `dynamodbav:"revocationId"`
	KeyID           string         `dynamodbav:"keyId"`
	SecretARN       string         `dynamodbav:"secretArn"`
	SecretVersionID string         `dynamodbav:"secretVersionId"`
	PickupTokenHash string         `dynamodbav:"pickupTokenHash"`
	Status          Status         `dynamodbav:"status"`
	CreatedAt       attrtime.Time  `dynamodbav:"createdAt"`
	ExpiresAt       attrtime.Time  `dynamodbav:"expiresAt"`
	ExpiresAtMs     int64          `dynamodbav:"expiresAtMs"`
	PurgeAt         int64          `dynamodbav:"purgeAt"`
	CollectedAt     *attrtime.Time `dynamodbav:"collectedAt,omitempty"`
}

// Item renders the replacement as its table item.
func (r Replacement) Item() (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(item{
		ID: r.ID, PartnerID: r.PartnerID, RevocationID: r.RevocationID, KeyID: r.KeyID, SecretARN: r.SecretARN,
		SecretVersionID: r.SecretVersionID, PickupTokenHash: r.PickupTokenHash, Status: r.Status,
		CreatedAt: attrtime.Of(r.CreatedAt), ExpiresAt: attrtime.Of(r.ExpiresAt), ExpiresAtMs: r.ExpiresAt.UnixMilli(),
		PurgeAt: r.ExpiresAt.Add(PurgeAfter).Unix(), CollectedAt: attrtime.Opt(r.CollectedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("replacement item %q: %w", r.ID, err)
	}
	return m, nil
}

// FromItem reads a replacement from its table item; its errors name the attribute that is
// missing or of another type, never a value but the id.
func FromItem(it map[string]types.AttributeValue) (Replacement, error) {
	rd := itemread.New(it)
	s := rd.String
	r := Replacement{
		ID:              s(PartitionKey, true),
		PartnerID:       s(attrPartnerID, true),
		RevocationID:    s(attrRevocationID, true),
		KeyID:           s(attrKeyID, true),
		SecretARN:       s(attrSecretARN, true),
		SecretVersionID: s(attrSecretVersionID, true),
		PickupTokenHash: s(attrTokenHash, true),
		Status:          Status(s(attrStatus, true)),
		CreatedAt:       rd.Time(attrCreatedAt, true),
		ExpiresAt:       rd.Time(attrExpiresAt, true),
		CollectedAt:     rd.Time(attrCollectedAt, false),
	}
	if ms := rd.Number(attrExpiresAtMs, true); !r.ExpiresAt.IsZero() && ms != r.ExpiresAt.UnixMilli() {
		rd.Add(fmt.Errorf("attribute %s is %d, but %s is %s", attrExpiresAtMs, ms, attrExpiresAt, attrtime.Format(r.ExpiresAt)))
	}
	if r.Status != StatusWaiting && r.Status != StatusCollected {
		rd.Add(fmt.Errorf("attribute %s is %q", attrStatus, r.Status))
	}
	if err := rd.Err(); err != nil {
		return Replacement{}, fmt.Errorf("replacement item %q: %w", r.ID, err)
	}
	return r, nil
}

// Put is the transaction item that records the new replacement r (status waiting), only if
// no replacement has its id.
func Put(table string, r Replacement) (types.TransactWriteItem, error) {
	r.Status = StatusWaiting
	r.CollectedAt = time.Time{}
	it, err := r.Item()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
	}}, nil
}

// GetItemAPI is the part of the DynamoDB client Get uses.
type GetItemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ GetItemAPI = (*dynamodb.Client)(nil)

// Get reads replacement id with a consistent read; found is false when there is none.
func Get(ctx context.Context, db GetItemAPI, table, id string) (r Replacement, found bool, err error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: Key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Replacement{}, false, fmt.Errorf("get replacement %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Replacement{}, false, nil
	}
	r, err = FromItem(out.Item)
	if err != nil {
		return Replacement{}, false, fmt.Errorf("get replacement %s: %w", id, err)
	}
	return r, true, nil
}

// Collect is the update that marks replacement r collected at now: only if it is still
// waiting, has not expired at now, and holds the token hash and key r holds. Of two pick-ups,
// one passes the condition. It goes into the transaction that records the pick-up.
func Collect(table string, r Replacement, now time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:        aws.String(table),
		Key:              Key(r.ID),
		UpdateExpression: aws.String("SET #status = :collected, #collectedAt = :at"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status = :waiting AND #exp > :now " +
			"AND #hash = :hash AND #key = :key"),
		ExpressionAttributeNames: map[string]string{
			"#pk": PartitionKey, "#status": attrStatus, "#collectedAt": attrCollectedAt,
			"#exp": attrExpiresAtMs, "#hash": attrTokenHash, "#key": attrKeyID,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":collected": str(string(StatusCollected)), ":waiting": str(string(StatusWaiting)),
			":at": str(attrtime.Format(now)), ":now": num(now.UnixMilli()),
			":hash": str(r.PickupTokenHash), ":key": str(r.KeyID),
		},
	}}
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
