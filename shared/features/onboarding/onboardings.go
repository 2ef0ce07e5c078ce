package onboarding

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// The onboardings table's key and TTL attribute; the topology's declaration of table
// "onboardings" must match.
const (
	OnboardingsPartitionKey = "onboardingId" // S
	OnboardingsTTLAttribute = "purgeAt"      // N
)

// PendingLifetime is how long an onboarding that needs an ops approval waits: ops approve or
// deny it, and the partner collects its key, before createdAt + PendingLifetime. A constant, not
// a policy setting: the policy file says whether a tier needs an approval, not how fast ops
// answer.
const PendingLifetime = 7 * 24 * time.Hour

// OnboardingPurgeAfter is how long an onboarding item is kept past its expiry before DynamoDB's
// TTL may delete it: long enough for ops to see what became of it.
const OnboardingPurgeAfter = 30 * 24 * time.Hour

// OnboardingIDPrefix starts every onboarding id.
const OnboardingIDPrefix = "onb-"

// PickupTokenPrefix starts every pick-up token; secret scanners can match it.
const PickupTokenPrefix = "lnyd_pku_" //nolint:gosec // G101: the prefix scanners match, not a token

// pickupTokenChars is how many base62 characters follow the prefix: 43 hold ≈ 256 bits.
const pickupTokenChars = 43

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

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
	// PickupTokenHash is PickupTokenHash(token): "sha256:<hex>".
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

// NewOnboardingID returns a new onboarding id: "onb-" and 26 lowercase base32 characters (128
// bits) from crypto/rand.
func NewOnboardingID() string { return OnboardingIDPrefix + strings.ToLower(rand.Text()) }

// ValidOnboardingID reports whether id has the shape NewOnboardingID gives.
func ValidOnboardingID(id string) bool {
	rest, ok := strings.CutPrefix(id, OnboardingIDPrefix)
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

// newPickupToken returns a new pick-up token: PickupTokenPrefix and 43 base62 characters from
// r.
func newPickupToken(r io.Reader) (secret.Value, error) {
	var b strings.Builder
	b.Grow(len(PickupTokenPrefix) + pickupTokenChars)
	b.WriteString(PickupTokenPrefix)
	buf := make([]byte, 64)
	for b.Len() < len(PickupTokenPrefix)+pickupTokenChars {
		if _, err := io.ReadFull(r, buf); err != nil {
			return secret.Value{}, fmt.Errorf("read random bytes for a pick-up token: %w", err)
		}
		for _, c := range buf {
			// 248 = 4·62: rejecting larger bytes keeps every character equally likely.
			if c < 248 && b.Len() < len(PickupTokenPrefix)+pickupTokenChars {
				b.WriteByte(base62[c%62])
			}
		}
		clear(buf)
	}
	return secret.New(b.String()), nil
}

// PickupTokenHash is what the table keeps of a pick-up token: "sha256:" and the lowercase hex
// SHA-256 of the whole token. A 256-bit random token needs a fast hash, not a password hash.
func PickupTokenHash(token secret.Value) string {
	sum := sha256.Sum256([]byte(token.Reveal()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tokenMatches says, in constant time, whether token is the one whose hash o keeps.
func (o Onboarding) tokenMatches(token secret.Value) bool {
	return subtle.ConstantTimeCompare([]byte(PickupTokenHash(token)), []byte(o.PickupTokenHash)) == 1
}

// onboardingKey is the onboardings table key of id.
func onboardingKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{OnboardingsPartitionKey: str(id)}
}

// Item renders the onboarding as its table item.
func (o Onboarding) Item() map[string]types.AttributeValue {
	item := onboardingKey(o.ID)
	for k, v := range map[string]string{
		attrOnbPartnerID:       o.PartnerID,
		attrOnbSecretVersionID: o.SecretVersionID,
		attrOnbPartnerName:     o.PartnerName,
		attrOnbTier:            o.Tier,
		attrOnbIdentityMethod:  o.IdentityMethod,
		attrOnbTokenHash:       o.PickupTokenHash,
		attrOnbStatus:          string(o.Status),
		attrOnbJustification:   o.Justification,
		attrOnbCreatedAt:       formatTime(o.CreatedAt),
		attrOnbExpiresAt:       formatTime(o.ExpiresAt),
	} {
		item[k] = str(v)
	}
	for k, v := range map[string]string{
		attrOnbInviteID:  o.InviteID,
		attrOnbAccountID: o.AccountID,
		attrOnbARN:       o.ARN,
		attrOnbDecidedBy: o.DecidedBy,
		attrOnbReason:    o.Reason,
	} {
		if v != "" {
			item[k] = str(v)
		}
	}
	for k, t := range map[string]time.Time{attrOnbDecidedAt: o.DecidedAt, attrOnbCollectedAt: o.CollectedAt} {
		if !t.IsZero() {
			item[k] = str(formatTime(t))
		}
	}
	scopes := slices.Sorted(slices.Values(o.Scopes))
	list := make([]types.AttributeValue, 0, len(scopes))
	for _, s := range scopes {
		list = append(list, str(s))
	}
	item[attrOnbScopes] = &types.AttributeValueMemberL{Value: list}
	item[attrOnbPolicyRevision] = num(int64(o.PolicyRevision))
	item[attrOnbExpiresAtEpoch] = num(o.ExpiresAt.UnixMilli())
	item[OnboardingsTTLAttribute] = num(o.ExpiresAt.Add(OnboardingPurgeAfter).Unix())
	return item
}

// onboardingFromItem reads an onboarding from its table item.
func onboardingFromItem(item map[string]types.AttributeValue) (Onboarding, error) {
	var errs []error
	s := func(name string, required bool) string {
		v, ok := item[name].(*types.AttributeValueMemberS)
		if !ok {
			if required || item[name] != nil {
				errs = append(errs, fmt.Errorf("attribute %s missing or not a string", name))
			}
			return ""
		}
		return v.Value
	}
	tm := func(name string, required bool) time.Time {
		v := s(name, required)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %w", name, err))
		}
		return t.UTC()
	}
	o := Onboarding{
		ID:              s(OnboardingsPartitionKey, true),
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
		errs = append(errs, fmt.Errorf("attribute %s missing or not a number", attrOnbPolicyRevision))
	} else if v, err := strconv.Atoi(n.Value); err != nil {
		errs = append(errs, fmt.Errorf("attribute %s: %w", attrOnbPolicyRevision, err))
	} else {
		o.PolicyRevision = v
	}
	// expiresAtEpoch is what the conditions read: it must say what expiresAt says.
	if n, ok := item[attrOnbExpiresAtEpoch].(*types.AttributeValueMemberN); !ok {
		errs = append(errs, fmt.Errorf("attribute %s missing or not a number", attrOnbExpiresAtEpoch))
	} else if v, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("attribute %s: %w", attrOnbExpiresAtEpoch, err))
	} else if !o.ExpiresAt.IsZero() && v != o.ExpiresAt.UnixMilli() {
		errs = append(errs, fmt.Errorf("attribute %s is %d, but %s is %s", attrOnbExpiresAtEpoch, v, attrOnbExpiresAt, formatTime(o.ExpiresAt)))
	}
	if l, ok := item[attrOnbScopes].(*types.AttributeValueMemberL); !ok {
		errs = append(errs, fmt.Errorf("attribute %s missing or not a list", attrOnbScopes))
	} else {
		o.Scopes = make([]string, 0, len(l.Value))
		for i, v := range l.Value {
			sv, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				errs = append(errs, fmt.Errorf("attribute %s[%d] is not a string", attrOnbScopes, i))
				continue
			}
			o.Scopes = append(o.Scopes, sv.Value)
		}
	}
	if !slices.Contains(Statuses(), o.Status) {
		errs = append(errs, fmt.Errorf("attribute %s is %q", attrOnbStatus, o.Status))
	}
	switch o.IdentityMethod {
	case events.ProofInvite:
		if o.InviteID == "" {
			errs = append(errs, fmt.Errorf("identity method %s without %s", o.IdentityMethod, attrOnbInviteID))
		}
	case events.ProofSTS:
		if o.AccountID == "" || o.ARN == "" {
			errs = append(errs, fmt.Errorf("identity method %s without %s and %s", o.IdentityMethod, attrOnbAccountID, attrOnbARN))
		}
	default:
		errs = append(errs, fmt.Errorf("attribute %s is %q", attrOnbIdentityMethod, o.IdentityMethod))
	}
	if err := errors.Join(errs...); err != nil {
		return Onboarding{}, fmt.Errorf("onboarding item %q: %w", o.ID, err)
	}
	return o, nil
}

// onboardingReader reads the onboardings table.
type onboardingReader interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// getOnboarding reads the onboarding id with a consistent read; found is false when there is
// none.
func getOnboarding(ctx context.Context, db onboardingReader, table, id string) (o Onboarding, found bool, err error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            onboardingKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Onboarding{}, false, fmt.Errorf("get onboarding %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Onboarding{}, false, nil
	}
	o, err = onboardingFromItem(out.Item)
	if err != nil {
		return Onboarding{}, false, fmt.Errorf("get onboarding %s: %w", id, err)
	}
	return o, true, nil
}

// putPending is the transaction item that records the new pending onboarding o, only if no
// onboarding has its id.
func putPending(table string, o Onboarding) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     o.Item(),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": OnboardingsPartitionKey},
	}}
}

// decide is the Update that moves onboarding id from pending to status (approved or denied) by
// decidedBy at now, with reason (none when empty): only if it is still pending and has not
// expired at now.
func decide(table, id string, status Status, decidedBy, reason string, now time.Time) *types.Update {
	names := map[string]string{
		"#pk": OnboardingsPartitionKey, "#status": attrOnbStatus, "#exp": attrOnbExpiresAtEpoch,
		"#by": attrOnbDecidedBy, "#at": attrOnbDecidedAt,
	}
	values := map[string]types.AttributeValue{
		":status": str(string(status)), ":pending": str(string(StatusPending)), ":now": num(now.UnixMilli()),
		":by": str(decidedBy), ":at": str(formatTime(now)),
	}
	set := "SET #status = :status, #by = :by, #at = :at"
	if reason != "" {
		names["#reason"], values[":reason"] = attrOnbReason, str(reason)
		set += ", #reason = :reason"
	}
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       onboardingKey(id),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #status = :pending AND #exp > :now"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// collect is the transaction item that marks onboarding o collected at now: only if it is
// approved, has not expired at now and still holds the token's hash.
func collect(table string, o Onboarding, now time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:        aws.String(table),
		Key:              onboardingKey(o.ID),
		UpdateExpression: aws.String("SET #status = :collected, #collectedAt = :at"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #status = :approved AND #exp > :now " +
			"AND #hash = :hash AND #partner = :partner"),
		ExpressionAttributeNames: map[string]string{
			"#pk": OnboardingsPartitionKey, "#status": attrOnbStatus, "#collectedAt": attrOnbCollectedAt,
			"#exp": attrOnbExpiresAtEpoch, "#hash": attrOnbTokenHash, "#partner": attrOnbPartnerID,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":collected": str(string(StatusCollected)), ":approved": str(string(StatusApproved)),
			":at": str(formatTime(now)), ":now": num(now.UnixMilli()),
			":hash": str(o.PickupTokenHash), ":partner": str(o.PartnerID),
		},
	}}
}

// sealExpired marks an approved onboarding past its expiry expired, so that no pick-up can
// collect it any more, whatever its clock says. It reports whether the onboarding is now
// sealed (by this call or an earlier one) or denied: then nothing will ever use a secret made
// for it.
func sealExpired(ctx context.Context, db DynamoDBAPI, table string, o Onboarding, now time.Time) (bool, error) {
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 onboardingKey(o.ID),
		UpdateExpression:    aws.String("SET #status = :expired"),
		ConditionExpression: aws.String("#status = :approved AND #exp <= :now"),
		ExpressionAttributeNames: map[string]string{
			"#status": attrOnbStatus, "#exp": attrOnbExpiresAtEpoch,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":expired": str(string(StatusExpired)), ":approved": str(string(StatusApproved)), ":now": num(now.UnixMilli()),
		},
	})
	if err == nil {
		return true, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return false, fmt.Errorf("seal expired onboarding %s: %w", o.ID, err)
	}
	cur, found, err := getOnboarding(ctx, db, table, o.ID)
	if err != nil {
		return false, fmt.Errorf("seal expired onboarding %s: %w", o.ID, err)
	}
	return found && (cur.Status == StatusExpired || cur.Status == StatusDenied), nil
}
