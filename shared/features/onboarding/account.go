package onboarding

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
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

// Attribute names and states of an account claim item.
const (
	attrAcctOwner        = "ownerPartnerId"
	attrAcctARN          = "arn"
	attrAcctOnboardingID = "onboardingId"
	attrAcctState        = "state"
	attrAcctExpiresAtMs  = "expiresAtMs"
	attrAcctCreatedAt    = "createdAt"

	accountOnboarded = "onboarded"
	accountPending   = "pending"
)

// errAccountTaken is the refusal of a second onboarding of one AWS account.
func errAccountTaken(accountID string, cause error) error {
	return problem.Conflict.New("This AWS account already has a Lanyard partner, or an onboarding waiting for approval. Ask your Lanyard contact.").
		WithCause(fmt.Errorf("AWS account %s is claimed: %w", accountID, cause))
}

func accountKey(accountID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{partners.PartitionKey: str(AccountKeyPrefix + accountID)}
}

// accountClaim is a claim of an AWS account by a partner.
type accountClaim struct {
	AccountID    string
	PartnerID    string
	ARN          string
	OnboardingID string    // pending claims only
	ExpiresAt    time.Time // pending claims only
	CreatedAt    time.Time
}

// claimAccount is the transaction item that writes c to the partners table: pending when c
// names an onboarding, onboarded otherwise; only if the account has no claim, or a pending one
// that expired before now.
func claimAccount(table string, c accountClaim, now time.Time) types.TransactWriteItem {
	item := accountKey(c.AccountID)
	item[attrAcctOwner] = str(c.PartnerID)
	item[attrAcctARN] = str(c.ARN)
	item[attrAcctCreatedAt] = str(formatTime(c.CreatedAt))
	item[attrAcctState] = str(accountOnboarded)
	if c.OnboardingID != "" {
		item[attrAcctState] = str(accountPending)
		item[attrAcctOnboardingID] = str(c.OnboardingID)
		item[attrAcctExpiresAtMs] = num(c.ExpiresAt.UnixMilli())
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:           aws.String(table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#state = :pending AND #exp <= :now)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": partners.PartitionKey, "#state": attrAcctState, "#exp": attrAcctExpiresAtMs,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending": str(accountPending), ":now": num(now.UnixMilli()),
		},
	}}
}

// settleAccount is the transaction item that turns the pending claim of accountID by partnerID
// into an onboarded one, at the pick-up.
func settleAccount(table, accountID, partnerID string) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           aws.String(table),
		Key:                 accountKey(accountID),
		UpdateExpression:    aws.String("SET #state = :onboarded REMOVE #exp"),
		ConditionExpression: aws.String("#owner = :partner AND #state = :pending"),
		ExpressionAttributeNames: map[string]string{
			"#state": attrAcctState, "#exp": attrAcctExpiresAtMs, "#owner": attrAcctOwner,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":onboarded": str(accountOnboarded), ":pending": str(accountPending), ":partner": str(partnerID),
		},
	}}
}

// releaseAccount is the transaction item that deletes the pending claim of accountID by
// partnerID, at a denial.
func releaseAccount(table, accountID, partnerID string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(table),
		Key:                       accountKey(accountID),
		ConditionExpression:       aws.String("#owner = :partner AND #state = :pending"),
		ExpressionAttributeNames:  map[string]string{"#owner": attrAcctOwner, "#state": attrAcctState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":partner": str(partnerID), ":pending": str(accountPending)},
	}}
}

// checkAccountFree refuses, before anything is created, an onboarding of an account another
// partner holds: onboarded, or pending and not expired at now. The transaction's condition
// (claimAccount) is what guarantees it; this read only spares the work.
func checkAccountFree(ctx context.Context, db onboardingReader, table, accountID string, now time.Time) error {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            accountKey(accountID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("read the claim of AWS account %s: %w", accountID, err)
	}
	if len(out.Item) == 0 {
		return nil
	}
	state, _ := out.Item[attrAcctState].(*types.AttributeValueMemberS)
	owner, _ := out.Item[attrAcctOwner].(*types.AttributeValueMemberS)
	if state == nil || owner == nil {
		return fmt.Errorf("the claim of AWS account %s is malformed", accountID)
	}
	if state.Value == accountPending {
		exp, _ := out.Item[attrAcctExpiresAtMs].(*types.AttributeValueMemberN)
		if exp == nil {
			return fmt.Errorf("the pending claim of AWS account %s has no %s", accountID, attrAcctExpiresAtMs)
		}
		ms, err := strconv.ParseInt(exp.Value, 10, 64)
		if err != nil {
			return fmt.Errorf("the pending claim of AWS account %s: %w", accountID, err)
		}
		if ms <= now.UnixMilli() {
			return nil // expired: the transaction replaces it
		}
	}
	return errAccountTaken(accountID, errors.New("held by partner "+owner.Value+" ("+state.Value+")"))
}
