// Package idempotency keeps the idempotency table: one record per request an Idempotency-Key
// names, claimed in flight under a lease before any work (Claim), taken over when its lease
// ran out (TakeOver), given up after a failure the client may retry (Release) and completed
// with the answer inside the request's transaction (Completion). The onboarding feature
// decides what a record means for a request (a replay, a conflict, a problem); this package
// writes and reads it.
//
// # The table
//
// The idempotency table (topology name "idempotency") is keyed by idempotencyKey (S) and
// expires records through its TTL attribute purgeAt (N, unix seconds). A record holds:
// idempotencyKey, requestHash, state ("in-flight" or "completed"), leaseUntil (N, unix ms),
// partnerId and secretVersionId (reserved for the request), createdAt (S, RFC 3339 in UTC), and
// once completed statusCode (N), responseBody, completedAt (N, unix ms) and, for a 201,
// secretArn.
package idempotency

import (
	"errors"
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

// The idempotency table's key and TTL attribute; the topology's declaration of table
// "idempotency" must match.
const (
	PartitionKey = "idempotencyKey" // S
	TTLAttribute = "purgeAt"        // N
)

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
	StateInFlight  = "in-flight"
	StateCompleted = "completed"
)

// Record is an idempotency record as the table holds it.
type Record struct {
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

// AnsweredAt is when the record's answer was given, which the replay window runs from.
func (r Record) AnsweredAt() time.Time {
	if r.CompletedAt.IsZero() {
		return r.CreatedAt
	}
	return r.CompletedAt
}

// Key is the idempotency table key of the record k.
func Key(k string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: str(k)}
}

// inFlightItem is the item of a record put in flight; a completion adds the answer.
type inFlightItem struct {
	Key             string        `dynamodbav:"idempotencyKey"`
	RequestHash     string        `dynamodbav:"requestHash"`
	State           string        `dynamodbav:"state"`
	LeaseUntil      int64         `dynamodbav:"leaseUntil"`
	PartnerID       string        `dynamodbav:"partnerId"`
	SecretVersionID string        `dynamodbav:"secretVersionId"`
	CreatedAt       attrtime.Time `dynamodbav:"createdAt"`
	PurgeAt         int64         `dynamodbav:"purgeAt"`
}

// Item renders an in-flight record as its table item; a completion adds the answer.
func (r Record) Item() (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(inFlightItem{
		Key: r.Key, RequestHash: r.RequestHash, State: r.State, LeaseUntil: r.LeaseUntil, PartnerID: r.PartnerID,
		SecretVersionID: r.SecretVersionID, CreatedAt: attrtime.Of(r.CreatedAt), PurgeAt: r.PurgeAt,
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency record %q: %w", r.Key, err)
	}
	return item, nil
}

// FromItem reads a record from its table item. It stays hand-written: its errors name the
// attribute that is missing or of another type, and it checks that a record holds together.
func FromItem(item map[string]types.AttributeValue) (Record, error) {
	rd := itemread.New(item)
	s := rd.String
	n := rd.Number
	r := Record{
		Key:             s(PartitionKey, true),
		RequestHash:     s(attrRequestHash, true),
		State:           s(attrState, true),
		LeaseUntil:      n(attrLeaseUntil, true),
		PartnerID:       s(attrPartnerID, true),
		SecretVersionID: s(attrSecretVersionID, true),
		StatusCode:      int(n(attrStatusCode, false)),
		ResponseBody:    s(attrResponseBody, false),
		SecretARN:       s(attrSecretARN, false),
		PurgeAt:         n(TTLAttribute, true),
	}
	if ms := n(attrCompletedAt, false); ms != 0 {
		r.CompletedAt = time.UnixMilli(ms).UTC()
	}
	r.CreatedAt = rd.Time(attrCreatedAt, true)
	switch r.State {
	case StateInFlight:
	case StateCompleted:
		if r.StatusCode < 200 || r.StatusCode > 599 || r.ResponseBody == "" {
			rd.Add(errors.New("completed without a status code and a response body"))
		}
		if r.StatusCode == 201 && r.SecretARN == "" {
			rd.Add(fmt.Errorf("completed with 201 but no %s", attrSecretARN))
		}
	default:
		rd.Add(fmt.Errorf("attribute %s is %q", attrState, r.State))
	}
	if err := rd.Err(); err != nil {
		return Record{}, fmt.Errorf("idempotency record %q: %w", r.Key, err)
	}
	return r, nil
}

// Claim is the put that claims the fresh in-flight record r in table at now: it succeeds for
// an absent key, or one whose record has outlived its lifetime (TTL deletes lazily, up to days
// late); otherwise it fails and returns the record.
func Claim(table string, r Record, now time.Time) (*dynamodb.PutItemInput, error) {
	item, err := r.Item()
	if err != nil {
		return nil, err
	}
	return &dynamodb.PutItemInput{
		TableName:                           aws.String(table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #purgeAt <= :now"),
		ExpressionAttributeNames:            map[string]string{"#pk": PartitionKey, "#purgeAt": TTLAttribute},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": num(now.Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, nil
}

// TakeOver is the update that claims the in-flight record old, whose lease ran out, under the
// new lease (unix ms): on condition that its lease is still the one seen.
func TakeOver(table string, old Record, lease int64) *dynamodb.UpdateItemInput {
	return &dynamodb.UpdateItemInput{
		TableName:           aws.String(table),
		Key:                 Key(old.Key),
		UpdateExpression:    aws.String("SET #lease = :lease"),
		ConditionExpression: aws.String("#state = :inFlight AND #lease = :seen AND #hash = :hash"),
		ExpressionAttributeNames: map[string]string{
			"#lease": attrLeaseUntil, "#state": attrState, "#hash": attrRequestHash,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease":    num(lease),
			":inFlight": str(StateInFlight),
			":seen":     num(old.LeaseUntil),
			":hash":     str(old.RequestHash),
		},
	}
}

// heldCondition is the condition of every write of a held claim: still in flight, under the
// lease (unix ms) the attempt holds.
func heldCondition(held int64, names map[string]string, values map[string]types.AttributeValue) *string {
	names["#state"], names["#lease"] = attrState, attrLeaseUntil
	values[":inFlight"], values[":held"] = str(StateInFlight), num(held)
	return aws.String("#state = :inFlight AND #lease = :held")
}

// Completion is the Update of table that completes the record c, held under its LeaseUntil,
// with an answer (secretARN for a 201) given at at, the time the replay window runs from.
func Completion(table string, c Record, at time.Time, status int, body, secretARN string) *types.Update {
	names := map[string]string{"#status": attrStatusCode, "#body": attrResponseBody, "#completedAt": attrCompletedAt}
	values := map[string]types.AttributeValue{
		":completed": str(StateCompleted), ":status": num(int64(status)), ":body": str(body),
		":completedAt": num(at.UnixMilli()),
	}
	cond := heldCondition(c.LeaseUntil, names, values)
	set := "SET #state = :completed, #status = :status, #body = :body, #completedAt = :completedAt"
	if secretARN != "" {
		names["#arn"], values[":arn"] = attrSecretARN, str(secretARN)
		set += ", #arn = :arn"
	}
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(c.Key),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// Release is the Update of table that gives the record c, held under its LeaseUntil, up:
// leaseUntil 0, so a retry takes it over at once.
func Release(table string, c Record) *types.Update {
	names := map[string]string{}
	values := map[string]types.AttributeValue{":zero": num(0)}
	cond := heldCondition(c.LeaseUntil, names, values)
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       Key(c.Key),
		UpdateExpression:          aws.String("SET #lease = :zero"),
		ConditionExpression:       cond,
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
