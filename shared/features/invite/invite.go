// Package invite issues and checks the one-time invite codes ops hand to partners, with which a
// partner onboards (POST /v1/partners) into the tier the invite names.
//
// # The code
//
// An invite code is "lnyd_inv_" and 43 base62 characters drawn from crypto/rand (256 bits). It
// is a secret: it lives in a secret.Value, is shown once (in the answer to POST
// /v1/admin/invites) and is never stored. The table keeps its Hash, the SHA-256 of the whole
// code, so a code is looked up by hashing it; a high-entropy code needs a fast hash, not a
// password hash.
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
// An invite works while it is issued and now is before expiresAt. Store.Lookup checks it for
// onboarding; Redeem is the Update onboarding puts into its transaction, conditioned on the
// same rule, so two onboardings with one code cannot both commit and an invite that expired
// between the lookup and the commit is refused by DynamoDB itself.
package invite

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// CodePrefix starts every invite code; secret scanners can match it.
const CodePrefix = "lnyd_inv_"

// codeChars is how many base62 characters follow the prefix: 43 of them hold
// 43·log2(62) ≈ 256.03 bits.
const codeChars = 43

// CodeLength is the length of an invite code.
const CodeLength = len(CodePrefix) + codeChars

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// IDPrefix starts every invite id.
const IDPrefix = "inv-"

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
	// Hash is Hash(code), the table key.
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

// NewCode returns a new invite code: CodePrefix and 43 base62 characters from crypto/rand.
func NewCode() secret.Value {
	var b strings.Builder
	b.Grow(CodeLength)
	b.WriteString(CodePrefix)
	buf := make([]byte, 64)
	for b.Len() < CodeLength {
		_, _ = rand.Read(buf) // never fails (crypto/rand.Read crashes the program instead)
		for _, c := range buf {
			// 248 = 4·62: rejecting larger bytes keeps every character equally likely.
			if c < 248 && b.Len() < CodeLength {
				b.WriteByte(base62[c%62])
			}
		}
	}
	return secret.New(b.String())
}

// WellFormed reports whether code has the shape NewCode gives. Lookup refuses any other code
// without reading the table.
func WellFormed(code secret.Value) bool {
	rest, ok := strings.CutPrefix(code.Reveal(), CodePrefix)
	if !ok || len(rest) != codeChars {
		return false
	}
	for i := range len(rest) {
		if strings.IndexByte(base62, rest[i]) < 0 {
			return false
		}
	}
	return true
}

// Hash returns what the table stores of a code: "sha256:" and the lowercase hex SHA-256 of the
// whole code.
func Hash(code secret.Value) string {
	sum := sha256.Sum256([]byte(code.Reveal()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NewID returns a new invite id: IDPrefix and 26 lowercase base32 characters (128 bits) from
// crypto/rand.
func NewID() string { return IDPrefix + strings.ToLower(rand.Text()) }

// ErrInvalid is the one answer for an invite code that cannot be used: unknown, malformed,
// already redeemed or expired. Callers answer problem.InviteInvalid whichever it was.
var ErrInvalid = errors.New("invite invalid")

// InvalidError is the ErrInvalid Lookup returns, with the reason — for the log only: the
// client is never told which it was.
type InvalidError struct {
	// Reason is "malformed", "unknown", "redeemed" or "expired".
	Reason string
	// InviteID names the invite when the code was found.
	InviteID string
}

func (e *InvalidError) Error() string {
	if e.InviteID == "" {
		return "invite invalid: " + e.Reason
	}
	return "invite " + e.InviteID + " invalid: " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

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

// Item renders the invite as its table item.
func (i Invite) Item() map[string]types.AttributeValue {
	item := Key(i.Hash)
	for k, v := range map[string]string{
		attrInviteID:    i.ID,
		attrPartnerName: i.PartnerName,
		attrTier:        i.Tier,
		attrStatus:      string(i.Status),
		attrExpiresAt:   FormatTime(i.ExpiresAt),
		attrCreatedAt:   FormatTime(i.CreatedAt),
		attrCreatedBy:   i.CreatedBy,
	} {
		item[k] = &types.AttributeValueMemberS{Value: v}
	}
	item[attrExpiresAtEpoch] = number(i.ExpiresAt.Unix())
	item[TTLAttribute] = number(i.ExpiresAt.Add(PurgeAfter).Unix())
	if i.RedeemedBy != "" {
		item[attrRedeemedBy] = &types.AttributeValueMemberS{Value: i.RedeemedBy}
	}
	if !i.RedeemedAt.IsZero() {
		item[attrRedeemedAt] = &types.AttributeValueMemberS{Value: FormatTime(i.RedeemedAt)}
	}
	return item
}

// FromItem reads an invite from its table item.
func FromItem(item map[string]types.AttributeValue) (Invite, error) {
	var errs []error
	str := func(name string, required bool) string {
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
		s := str(name, required)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %w", name, err))
		}
		return t.UTC()
	}
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
		errs = append(errs, fmt.Errorf("attribute %s missing or not a number", attrExpiresAtEpoch))
	} else if v, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
		errs = append(errs, fmt.Errorf("attribute %s: %w", attrExpiresAtEpoch, err))
	} else if !i.ExpiresAt.IsZero() && v != i.ExpiresAt.Unix() {
		errs = append(errs, fmt.Errorf("attribute %s is %d, but %s is %s", attrExpiresAtEpoch, v, attrExpiresAt, FormatTime(i.ExpiresAt)))
	}
	if err := errors.Join(errs...); err != nil {
		return Invite{}, fmt.Errorf("invite item %q: %w", i.ID, err)
	}
	return i, nil
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
