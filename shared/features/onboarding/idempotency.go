package onboarding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/idempotency"
)

// The idempotency table's key and TTL attribute (package stores/idempotency keeps the table).
const (
	IdempotencyPartitionKey = idempotency.PartitionKey
	IdempotencyTTLAttribute = idempotency.TTLAttribute
)

// IdempotencyKeyPrefix starts the key of every onboarding's record: the operation the key
// belongs to.
const IdempotencyKeyPrefix = "createPartner#"

// PickupKeyPrefix starts the key of every pick-up's record (POST
// /v1/onboardings/{onboardingId}/pickup): a key used for an onboarding and for a pick-up names
// two records.
const PickupKeyPrefix = "pickup#"

// RecordLifetime is how long a record is kept: a replay within it gets the first answer — the
// key itself only within the policy's onboarding.replayWindow — and a later request under the
// same key and proof is a new one.
const RecordLifetime = 24 * time.Hour

// proofScope is the identity proof a request carries, which its record is kept under: the
// invite (by the hash the invites table keys it by), the AWS account STS verified, or the
// pick-up token (by the hash its onboarding keeps). The same Idempotency-Key with another
// proof names another record, so a copied or guessed header can neither take a request's
// record first nor read its answer.
type proofScope struct {
	kind  string // "invite" | "account" | "token"
	value string
}

func inviteScope(code secret.Value) proofScope {
	return proofScope{kind: "invite", value: invite.Hash(code)}
}
func accountScope(accountID string) proofScope { return proofScope{kind: "account", value: accountID} }
func pickupScope(token secret.Value) proofScope {
	return proofScope{kind: "token", value: PickupTokenHash(token)}
}

// recordKey is the record key of an operation's (IdempotencyKeyPrefix, PickupKeyPrefix)
// request under the Idempotency-Key idemKey within the proof's scope:
// "<operation>#<kind>#<proof>#sha256:<hex of the Idempotency-Key>". Only the header's hash is
// kept, so neither the table nor an error naming the record holds the header.
func (s proofScope) recordKey(operation string, idemKey secret.Value) string {
	sum := sha256.Sum256([]byte(idemKey.Reveal()))
	return operation + s.kind + "#" + s.value + "#sha256:" + hex.EncodeToString(sum[:])
}

// DefaultLease is how long a claim is held before another attempt may take it over when
// Handler.Lease is zero: a little more than the function's timeout (30 s), so a live attempt
// is never overtaken.
const DefaultLease = 60 * time.Second

// States of an idempotency record.
const (
	stateInFlight  = idempotency.StateInFlight
	stateCompleted = idempotency.StateCompleted
)

// maxClaimRounds bounds how often claim reads the record again after losing a race for it.
const maxClaimRounds = 3

// errLeaseLost says another attempt took this attempt's claim over: it owns the request now.
var errLeaseLost = errors.New("the idempotency claim was taken over by another attempt")

// record is an idempotency record as the table holds it.
type record = idempotency.Record

// claim is an in-flight record this attempt holds.
type claim struct {
	record
	// TakenOver says an earlier attempt held the claim and may have created the secret.
	TakenOver bool
}

// idempotencyTable reads and writes the idempotency records.
type idempotencyTable struct {
	db    DynamoDBAPI
	table string
	lease time.Duration
}

// claimResult is what claim found: a claim this attempt now holds, or a completed record to
// replay.
type claimResult struct {
	Claim  *claim
	Replay *record
}

// claimIDs gives a new claim its partner id and secret version id: new ones for an onboarding,
// the pending onboarding's reserved ones for a pick-up.
type claimIDs func() (partnerID, secretVersionID string, err error)

// claim takes the record of key for the request hashed requestHash at now, with the partner
// id and secret version id ids gives. It returns the claim, or the completed record to
// replay, or a problem: 422 for a record of another request, 409 for one in flight under a
// live lease. Any other error is internal; nothing is held then.
func (s idempotencyTable) claim(ctx context.Context, key, requestHash string, now time.Time, ids claimIDs) (claimResult, error) {
	for round := 1; ; round++ {
		partnerID, version, err := ids()
		if err != nil {
			return claimResult{}, fmt.Errorf("claim idempotency key: %w", err)
		}
		fresh := record{
			Key:             key,
			RequestHash:     requestHash,
			State:           stateInFlight,
			LeaseUntil:      now.Add(s.lease).UnixMilli(),
			PartnerID:       partnerID,
			SecretVersionID: version,
			CreatedAt:       now,
			PurgeAt:         now.Add(RecordLifetime).Unix(),
		}
		// One write claims an absent key, or one whose record has outlived its lifetime (TTL
		// deletes lazily, up to days late); otherwise it fails and returns the record.
		put, err := idempotency.Claim(s.table, fresh, now)
		if err != nil {
			return claimResult{}, fmt.Errorf("claim idempotency record %s: %w", key, err)
		}
		_, err = s.db.PutItem(ctx, put)
		if err == nil {
			return claimResult{Claim: &claim{record: fresh}}, nil
		}
		var failed *types.ConditionalCheckFailedException
		if !errors.As(err, &failed) {
			return claimResult{}, fmt.Errorf("claim idempotency record %s: %w", key, err)
		}
		item := failed.Item
		if len(item) == 0 { // an endpoint that does not return the item: read it
			if item, err = s.get(ctx, key); err != nil {
				return claimResult{}, err
			}
		}
		if len(item) == 0 {
			// Gone between the check and now (TTL): claim it again.
			if round >= maxClaimRounds {
				return claimResult{}, problem.IdempotencyInFlight.New("").WithCause(fmt.Errorf("idempotency record %s kept changing", key))
			}
			continue
		}
		old, err := idempotency.FromItem(item)
		if err != nil {
			return claimResult{}, fmt.Errorf("claim: %w", err)
		}
		switch {
		case old.RequestHash != requestHash:
			return claimResult{}, problem.IdempotencyKeyReused.New("").WithCause(fmt.Errorf("idempotency record %s (partner %s) holds another request", key, old.PartnerID))
		case old.State == stateCompleted:
			return claimResult{Replay: &old}, nil
		case old.LeaseUntil > now.UnixMilli():
			return claimResult{}, problem.IdempotencyInFlight.New("").WithCause(fmt.Errorf("idempotency record %s (partner %s) is in flight for %s more", key, old.PartnerID, time.Duration(old.LeaseUntil-now.UnixMilli())*time.Millisecond))
		}
		c, err := s.takeOver(ctx, old, now)
		if err == nil {
			return claimResult{Claim: c}, nil
		}
		if !errors.Is(err, errLeaseLost) {
			return claimResult{}, err
		}
		if round >= maxClaimRounds {
			return claimResult{}, problem.IdempotencyInFlight.New("").WithCause(fmt.Errorf("idempotency record %s: %w", key, err))
		}
		// Another attempt took it over or completed it first: look again.
	}
}

// get reads the record of key with a consistent read; nil when there is none.
func (s idempotencyTable) get(ctx context.Context, key string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            idempotency.Key(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read idempotency record %s: %w", key, err)
	}
	return out.Item, nil
}

// takeOver claims an in-flight record whose lease ran out, on condition that its lease is still
// the one seen. The claim keeps the record's partner id and secret version id.
func (s idempotencyTable) takeOver(ctx context.Context, old record, now time.Time) (*claim, error) {
	lease := now.Add(s.lease).UnixMilli()
	_, err := s.db.UpdateItem(ctx, idempotency.TakeOver(s.table, old, lease))
	if err != nil {
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			return nil, fmt.Errorf("take over idempotency record %s: %w", old.Key, errLeaseLost)
		}
		return nil, fmt.Errorf("take over idempotency record %s: %w", old.Key, err)
	}
	c := &claim{record: old, TakenOver: true}
	c.LeaseUntil = lease
	return c, nil
}

// completion is the Update that completes the claim with an answer (secretARN for a 201)
// given at at, the time the replay window runs from.
func (s idempotencyTable) completion(c *claim, at time.Time, status int, body, secretARN string) *types.Update {
	return idempotency.Completion(s.table, c.record, at, status, body, secretARN)
}

// complete records a refusal given at at as the claim's answer. errLeaseLost when the claim was
// taken over.
func (s idempotencyTable) complete(ctx context.Context, c *claim, at time.Time, status int, body string) error {
	u := s.completion(c, at, status, body, "")
	return s.update(ctx, c, "complete", u)
}

// release gives the claim up after a failure the client may retry: leaseUntil 0, so the retry
// takes it over at once, with the same partner id and secret version id. errLeaseLost when the
// claim was taken over (or completed) meanwhile.
func (s idempotencyTable) release(ctx context.Context, c *claim) error {
	return s.update(ctx, c, "release", idempotency.Release(s.table, c.record))
}

func (s idempotencyTable) update(ctx context.Context, c *claim, what string, u *types.Update) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 u.TableName,
		Key:                       u.Key,
		UpdateExpression:          u.UpdateExpression,
		ConditionExpression:       u.ConditionExpression,
		ExpressionAttributeNames:  u.ExpressionAttributeNames,
		ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	if err != nil {
		var failed *types.ConditionalCheckFailedException
		if errors.As(err, &failed) {
			return fmt.Errorf("%s idempotency record %s: %w", what, c.Key, errLeaseLost)
		}
		return fmt.Errorf("%s idempotency record %s: %w", what, c.Key, err)
	}
	return nil
}
