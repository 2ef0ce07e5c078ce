package partners

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// One partner per AWS account. An onboarding by STS identity proof claims its account with an
// item in the partners table whose partner id is AccountKeyPrefix + the account id — never a
// partner id, which starts "p-" — written in the transaction that onboards the partner (or
// records its pending onboarding), on condition that no live claim exists:
//
//	partnerId       S  "account#" + the 12-digit account id
//	ownerPartnerId  S  the partner that holds the account (reserved, while pending)
//	arn             S  the principal that proved it
//	onboardingId    S  the pending onboarding, if the tier needs an approval
//	state           S  "onboarded" | "pending"
//	expiresAtMs     N  a pending claim's end (the onboarding's expiresAt), unix ms
//	createdAt       S  RFC 3339, UTC
//
// A pending claim past its expiry is dead: the next onboarding of the account replaces it. A
// denial deletes it; the pick-up makes it "onboarded".

// AccountKeyPrefix starts the partner id of an account claim item.
const AccountKeyPrefix = "account#"

// Attribute names of an account claim item.
const (
	AttrAccountOwner        = "ownerPartnerId"
	AttrAccountARN          = "arn"
	AttrAccountOnboardingID = "onboardingId"
	AttrAccountState        = "state"
	AttrAccountExpiresAtMs  = "expiresAtMs"
	attrAccountCreatedAt    = "createdAt"
)

// States of an account claim.
const (
	AccountOnboarded = "onboarded"
	AccountPending   = "pending"
)

// AccountKey is the partners table key of the claim of an AWS account.
func AccountKey(accountID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(AccountKeyPrefix + accountID)}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// AccountClaim is a claim of an AWS account by a partner.
type AccountClaim struct {
	AccountID    string
	PartnerID    string
	ARN          string
	OnboardingID string    // pending claims only
	ExpiresAt    time.Time // pending claims only
	CreatedAt    time.Time
}

// ClaimAccount is the transaction item that writes c to the partners table: pending when c
// names an onboarding, onboarded otherwise; only if the account has no claim, or a pending one
// that expired before now.
func ClaimAccount(table string, c AccountClaim, now time.Time) types.TransactWriteItem {
	item := AccountKey(c.AccountID)
	item[AttrAccountOwner] = str(c.PartnerID)
	item[AttrAccountARN] = str(c.ARN)
	item[attrAccountCreatedAt] = str(FormatTime(c.CreatedAt))
	item[AttrAccountState] = str(AccountOnboarded)
	if c.OnboardingID != "" {
		item[AttrAccountState] = str(AccountPending)
		item[AttrAccountOnboardingID] = str(c.OnboardingID)
		item[AttrAccountExpiresAtMs] = num(c.ExpiresAt.UnixMilli())
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:           aws.String(table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#state = :pending AND #exp <= :now)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": PartitionKey, "#state": AttrAccountState, "#exp": AttrAccountExpiresAtMs,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending": str(AccountPending), ":now": num(now.UnixMilli()),
		},
	}}
}

// SettleAccount is the transaction item that turns the pending claim of accountID by
// partnerID into an onboarded one, at the pick-up.
func SettleAccount(table, accountID, partnerID string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           aws.String(table),
		Key:                 AccountKey(accountID),
		UpdateExpression:    aws.String("SET #state = :onboarded REMOVE #exp"),
		ConditionExpression: aws.String("#owner = :partner AND #state = :pending"),
		ExpressionAttributeNames: map[string]string{
			"#state": AttrAccountState, "#exp": AttrAccountExpiresAtMs, "#owner": AttrAccountOwner,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":onboarded": str(AccountOnboarded), ":pending": str(AccountPending), ":partner": str(partnerID),
		},
	}}
}

// ReleaseAccount is the transaction item that deletes the pending claim of accountID by
// partnerID, at a denial.
func ReleaseAccount(table, accountID, partnerID string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(table),
		Key:                       AccountKey(accountID),
		ConditionExpression:       aws.String("#owner = :partner AND #state = :pending"),
		ExpressionAttributeNames:  map[string]string{"#owner": AttrAccountOwner, "#state": AttrAccountState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":partner": str(partnerID), ":pending": str(AccountPending)},
	}}
}

// AccountHold is what a claim says about who holds an account: its owner, its state, and for
// a pending claim its end.
type AccountHold struct {
	Owner     string
	State     string    // AccountOnboarded or AccountPending
	ExpiresAt time.Time // AccountPending only (unix ms)
}

// GetAccountHold reads the claim of accountID with a consistent read; found is false when
// there is none. It stays a hand codec: it reads only what the check before an onboarding
// needs, and refuses a claim without it.
func (s *Store) GetAccountHold(ctx context.Context, accountID string) (hold AccountHold, found bool, err error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            AccountKey(accountID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return AccountHold{}, false, fmt.Errorf("read the claim of AWS account %s: %w", accountID, err)
	}
	if len(out.Item) == 0 {
		return AccountHold{}, false, nil
	}
	state, _ := out.Item[AttrAccountState].(*types.AttributeValueMemberS)
	owner, _ := out.Item[AttrAccountOwner].(*types.AttributeValueMemberS)
	if state == nil || owner == nil {
		return AccountHold{}, false, fmt.Errorf("the claim of AWS account %s is malformed", accountID)
	}
	hold = AccountHold{Owner: owner.Value, State: state.Value}
	if state.Value == AccountPending {
		exp, _ := out.Item[AttrAccountExpiresAtMs].(*types.AttributeValueMemberN)
		if exp == nil {
			return AccountHold{}, false, fmt.Errorf("the pending claim of AWS account %s has no %s", accountID, AttrAccountExpiresAtMs)
		}
		ms, err := strconv.ParseInt(exp.Value, 10, 64)
		if err != nil {
			return AccountHold{}, false, fmt.Errorf("the pending claim of AWS account %s: %w", accountID, err)
		}
		hold.ExpiresAt = time.UnixMilli(ms).UTC()
	}
	return hold, true, nil
}

// IDOf is the partner id of a partners table item ("" when it has none), and whether the item
// is an account claim rather than a partner.
func IDOf(item map[string]types.AttributeValue) (id string, accountClaim bool) {
	if v, ok := item[PartitionKey].(*types.AttributeValueMemberS); ok {
		id = v.Value
	}
	return id, strings.HasPrefix(id, AccountKeyPrefix)
}
