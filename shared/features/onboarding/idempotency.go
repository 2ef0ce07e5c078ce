package onboarding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// The idempotency table's key and TTL attribute; the topology's declaration of table
// "idempotency" must match.
const (
	IdempotencyPartitionKey = "idempotencyKey" // S
	IdempotencyTTLAttribute = "purgeAt"        // N
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

// Attribute names of an idempotency record.
const (
	attrRequestHash     = "requestHash"
	attrState           = "state"
	attrLeaseUntil      = "leaseUntil"
	attrPartnerID       = "partnerId"
	attrSecretVersionID = "secretVersionId"
	attrStatusCode      = "statusCode"
	attrResponseBody    = "responseBody"
	attrSecretARN       = "secretArn"
	attrCreatedAt       = "createdAt"
	attrCompletedAt     = "completedAt"
)

// States of an idempotency record.
const (
	stateInFlight  = "in-flight"
	stateCompleted = "completed"
)

// maxClaimRounds bounds how often claim reads the record again after losing a race for it.
const maxClaimRounds = 3

// errLeaseLost says another attempt took this attempt's claim over: it owns the request now.
var errLeaseLost = errors.New("the idempotency claim was taken over by another attempt")

// record is an idempotency record as the table holds it.
type record struct {
	Key             string
	RequestHash     string
	State           string
	LeaseUntil      int64 // unix ms
	PartnerID       string
	SecretVersionID string
	StatusCode      int
	ResponseBody    string
	SecretARN       string
	CreatedAt       time.Time
	// CompletedAt is the time of the attempt that answered, once completed (zero for a record
	// completed before it was kept: its CreatedAt stands in).
	CompletedAt time.Time
	PurgeAt     int64 // unix s
}

// answeredAt is when the record's answer was given, which the replay window runs from.
func (r record) answeredAt() time.Time {
	if r.CompletedAt.IsZero() {
		return r.CreatedAt
	}
	return r.CompletedAt
}

// claim is an in-flight record this attempt holds.
type claim struct {
	record
	// TakenOver says an earlier attempt held the claim and may have created the secret.
	TakenOver bool
}

func (r record) item() map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		IdempotencyPartitionKey: str(r.Key),
		attrRequestHash:         str(r.RequestHash),
		attrState:               str(r.State),
		attrLeaseUntil:          num(r.LeaseUntil),
		attrPartnerID:           str(r.PartnerID),
		attrSecretVersionID:     str(r.SecretVersionID),
		attrCreatedAt:           str(r.CreatedAt.UTC().Format(time.RFC3339Nano)),
		IdempotencyTTLAttribute: num(r.PurgeAt),
	}
	return item
}

func recordFromItem(item map[string]types.AttributeValue) (record, error) {
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
	n := func(name string, required bool) int64 {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			if required || item[name] != nil {
				errs = append(errs, fmt.Errorf("attribute %s missing or not a number", name))
			}
			return 0
		}
		i, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %w", name, err))
		}
		return i
	}
	r := record{
		Key:             s(IdempotencyPartitionKey, true),
		RequestHash:     s(attrRequestHash, true),
		State:           s(attrState, true),
		LeaseUntil:      n(attrLeaseUntil, true),
		PartnerID:       s(attrPartnerID, true),
		SecretVersionID: s(attrSecretVersionID, true),
		StatusCode:      int(n(attrStatusCode, false)),
		ResponseBody:    s(attrResponseBody, false),
		SecretARN:       s(attrSecretARN, false),
		PurgeAt:         n(IdempotencyTTLAttribute, true),
	}
	if ms := n(attrCompletedAt, false); ms != 0 {
		r.CompletedAt = time.UnixMilli(ms).UTC()
	}
	if c := s(attrCreatedAt, true); c != "" {
		t, err := time.Parse(time.RFC3339Nano, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %w", attrCreatedAt, err))
		}
		r.CreatedAt = t.UTC()
	}
	switch r.State {
	case stateInFlight:
	case stateCompleted:
		if r.StatusCode < 200 || r.StatusCode > 599 || r.ResponseBody == "" {
			errs = append(errs, errors.New("completed without a status code and a response body"))
		}
		if r.StatusCode == 201 && r.SecretARN == "" {
			errs = append(errs, fmt.Errorf("completed with 201 but no %s", attrSecretARN))
		}
	default:
		errs = append(errs, fmt.Errorf("attribute %s is %q", attrState, r.State))
	}
	if err := errors.Join(errs...); err != nil {
		return record{}, fmt.Errorf("idempotency record %q: %w", r.Key, err)
	}
	return r, nil
}

// idempotencyTable reads and writes the idempotency records.
type idempotencyTable struct {
	db    DynamoDBAPI
	table string
	lease time.Duration
}

func (s idempotencyTable) key(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{IdempotencyPartitionKey: str(k)}
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
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           aws.String(s.table),
			Item:                                fresh.item(),
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #purgeAt <= :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": IdempotencyPartitionKey, "#purgeAt": IdempotencyTTLAttribute},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": num(now.Unix())},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
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
		old, err := recordFromItem(item)
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
		Key:            s.key(key),
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
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 s.key(old.Key),
		UpdateExpression:    aws.String("SET #lease = :lease"),
		ConditionExpression: aws.String("#state = :inFlight AND #lease = :seen AND #hash = :hash"),
		ExpressionAttributeNames: map[string]string{
			"#lease": attrLeaseUntil, "#state": attrState, "#hash": attrRequestHash,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease":    num(lease),
			":inFlight": str(stateInFlight),
			":seen":     num(old.LeaseUntil),
			":hash":     str(old.RequestHash),
		},
	})
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

// heldCondition is the condition of every write of a held claim: still in flight, under the
// lease this attempt holds.
func heldCondition(c *claim, names map[string]string, values map[string]types.AttributeValue) *string {
	names["#state"], names["#lease"] = attrState, attrLeaseUntil
	values[":inFlight"], values[":held"] = str(stateInFlight), num(c.LeaseUntil)
	return aws.String("#state = :inFlight AND #lease = :held")
}

// completion is the Update that completes the claim with an answer (secretARN for a 201)
// given at at, the time the replay window runs from.
func (s idempotencyTable) completion(c *claim, at time.Time, status int, body, secretARN string) *types.Update {
	names := map[string]string{"#status": attrStatusCode, "#body": attrResponseBody, "#completedAt": attrCompletedAt}
	values := map[string]types.AttributeValue{
		":completed": str(stateCompleted), ":status": num(int64(status)), ":body": str(body),
		":completedAt": num(at.UnixMilli()),
	}
	cond := heldCondition(c, names, values)
	set := "SET #state = :completed, #status = :status, #body = :body, #completedAt = :completedAt"
	if secretARN != "" {
		names["#arn"], values[":arn"] = attrSecretARN, str(secretARN)
		set += ", #arn = :arn"
	}
	return &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       s.key(c.Key),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
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
	names := map[string]string{}
	values := map[string]types.AttributeValue{":zero": num(0)}
	cond := heldCondition(c, names, values)
	return s.update(ctx, c, "release", &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       s.key(c.Key),
		UpdateExpression:          aws.String("SET #lease = :zero"),
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
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

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
