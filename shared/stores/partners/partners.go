// Package partners keeps the partners table: one item per onboarded partner, written once by
// onboarding (PutNew, inside its transaction) and read by the routes that answer about the
// partner (Store.Get, the GET /v1/partners/me handler).
//
// # The table
//
// The partners table (topology name "partners") is keyed by partnerId (S). An item holds:
// partnerId, partnerName, tier, scopes (L of S, sorted), status ("active"), keyId (the current
// key), secretArn, identityMethod ("invite"), inviteId, justification (the policy decision's),
// policyRevision (N) and createdAt (S, RFC 3339 in UTC with Go's RFC3339Nano fraction).
package partners

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
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

// PartitionKey is the key attribute of the partners table; the topology's declaration of
// table "partners" must match.
const PartitionKey = "partnerId" // S

// Attribute names of a partner item.
const (
	attrPartnerName    = "partnerName"
	attrTier           = "tier"
	attrScopes         = "scopes"
	attrStatus         = "status"
	attrKeyID          = "keyId"
	attrSecretARN      = "secretArn"
	attrIdentityMethod = "identityMethod"
	attrInviteID       = "inviteId"
	attrJustification  = "justification"
	attrPolicyRevision = "policyRevision"
	attrCreatedAt      = "createdAt"
	// Written only for a partner that proved an AWS identity (IdentityMethodSTS).
	attrAccountID = "accountId"
	attrARN       = "arn"
)

// Values of Partner.Status and Partner.IdentityMethod.
const (
	StatusActive         = "active"
	IdentityMethodInvite = "invite" // an invite code issued by ops
	IdentityMethodSTS    = "sts"    // a signed STS GetCallerIdentity request
)

// IDPrefix starts every partner id.
const IDPrefix = "p-"

// ErrNotFound is returned by Store.Get when the table holds no partner with that id.
var ErrNotFound = errors.New("partner not found")

// Partner is an onboarded partner.
type Partner struct {
	PartnerID      string
	PartnerName    string
	Tier           string
	Scopes         []string // sorted in the item
	Status         string
	KeyID          string // the current key
	SecretARN      string
	IdentityMethod string
	InviteID       string // IdentityMethodInvite: the invite redeemed
	// AccountID and ARN are the AWS account and principal an STS identity proof verified
	// (IdentityMethodSTS); empty otherwise.
	AccountID      string
	ARN            string
	Justification  string
	PolicyRevision int
	CreatedAt      time.Time
}

// NewID returns a new partner id: "p-" and 26 lowercase base32 characters (128 bits) from
// crypto/rand.
func NewID() string {
	return IDPrefix + strings.ToLower(rand.Text())
}

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

// FormatTime renders a time as the table stores it: RFC 3339 in UTC with Go's RFC3339Nano
// fraction.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Key is the partners table key of the partner id.
func Key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: &types.AttributeValueMemberS{Value: id}}
}

// item is a partner as its table holds it when onboarding writes it; rotation's keys and
// markers are set later by updates (rotation.go).
type item struct {
	PartnerID      string        `dynamodbav:"partnerId"`
	PartnerName    string        `dynamodbav:"partnerName"`
	Tier           string        `dynamodbav:"tier"`
	Scopes         []string      `dynamodbav:"scopes"` // L, sorted; never NULL
	Status         string        `dynamodbav:"status"`
	KeyID          string        `dynamodbav:"keyId"`
	SecretARN      string        `dynamodbav:"secretArn"`
	IdentityMethod string        `dynamodbav:"identityMethod"`
	InviteID       string        `dynamodbav:"inviteId"` // "" for an STS partner, as always stored
	AccountID      string        `dynamodbav:"accountId,omitempty"`
	ARN            string        `dynamodbav:"arn,omitempty"`
	Justification  string        `dynamodbav:"justification"`
	PolicyRevision int           `dynamodbav:"policyRevision"`
	CreatedAt      attrtime.Time `dynamodbav:"createdAt"`
}

// Item renders the partner as its table item, scopes sorted.
func (p Partner) Item() (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(item{
		PartnerID: p.PartnerID, PartnerName: p.PartnerName, Tier: p.Tier,
		Scopes: append(make([]string, 0, len(p.Scopes)), slices.Sorted(slices.Values(p.Scopes))...),
		Status: p.Status, KeyID: p.KeyID, SecretARN: p.SecretARN, IdentityMethod: p.IdentityMethod,
		InviteID: p.InviteID, AccountID: p.AccountID, ARN: p.ARN, Justification: p.Justification,
		PolicyRevision: p.PolicyRevision, CreatedAt: attrtime.Of(p.CreatedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("partner item %q: %w", p.PartnerID, err)
	}
	return m, nil
}

// FromItem reads a partner from its table item. It stays hand-written: its errors name the
// attribute that is missing or of another type.
func FromItem(item map[string]types.AttributeValue) (Partner, error) {
	rd := itemread.New(item)
	str := func(name string) string { return rd.String(name, true) }
	p := Partner{
		PartnerID:      str(PartitionKey),
		PartnerName:    str(attrPartnerName),
		Tier:           str(attrTier),
		Status:         str(attrStatus),
		KeyID:          str(attrKeyID),
		SecretARN:      str(attrSecretARN),
		IdentityMethod: str(attrIdentityMethod),
		InviteID:       str(attrInviteID),
		Justification:  str(attrJustification),
	}
	for name, dst := range map[string]*string{attrAccountID: &p.AccountID, attrARN: &p.ARN} {
		if _, present := item[name]; present {
			*dst = str(name)
		}
	}
	p.CreatedAt = rd.Time(attrCreatedAt, true)
	if n, ok := item[attrPolicyRevision].(*types.AttributeValueMemberN); !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a number", attrPolicyRevision))
	} else if v, err := strconv.Atoi(n.Value); err != nil {
		rd.Add(fmt.Errorf("attribute %s: %w", attrPolicyRevision, err))
	} else {
		p.PolicyRevision = v
	}
	if l, ok := item[attrScopes].(*types.AttributeValueMemberL); !ok {
		rd.Add(fmt.Errorf("attribute %s missing or not a list", attrScopes))
	} else {
		p.Scopes = make([]string, 0, len(l.Value))
		for i, v := range l.Value {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				rd.Add(fmt.Errorf("attribute %s[%d] is not a string", attrScopes, i))
				continue
			}
			p.Scopes = append(p.Scopes, s.Value)
		}
	}
	if err := rd.Err(); err != nil {
		return Partner{}, fmt.Errorf("partner item %q: %w", p.PartnerID, err)
	}
	return p, nil
}

// PutNew is the transaction item that writes p to table, only if no partner has its id.
func PutNew(table string, p Partner) (types.TransactWriteItem, error) {
	item, err := p.Item()
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

// GetItemAPI is the part of the DynamoDB client the Store uses.
type GetItemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ GetItemAPI = (*dynamodb.Client)(nil)

// Store reads the partners table.
type Store struct {
	DB    GetItemAPI
	Table string
}

// Get reads the partner id with a consistent read; ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, id string) (Partner, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Partner{}, fmt.Errorf("get partner %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return Partner{}, fmt.Errorf("get partner %s: %w", id, ErrNotFound)
	}
	return FromItem(out.Item)
}
