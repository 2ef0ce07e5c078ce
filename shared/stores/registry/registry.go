// Package registry is the credential registry: the DynamoDB table "credentials" that maps a
// partner key's public id to what the verify path needs to accept or refuse it — the SHA-256
// verifier of the key (never the key), the partner, its scopes and tier, the key's status,
// validity window and grace deadline, and where its plaintext lives in Secrets Manager.
//
// The authorizer reads it on every cache miss; onboarding and rotation write it inside the
// transactions that record their decisions (PutNew). The plaintext is never here: the verify
// path never reads Secrets Manager.
//
// # The item
//
//	keyId           S   partition key: the key's public id (credential.KeyID)
//	partnerId       S   the partner; GSI "by-partner" is keyed on it
//	verifier        S   "sha256:<64 hex>" (credential.Verifier.Encode)
//	scopes          L   of S, sorted
//	tier            S
//	status          S   pending | active | previous | retired | revoked
//	notBefore       S   RFC 3339 (nanoseconds), UTC
//	notAfter        S   RFC 3339 (nanoseconds), UTC
//	graceUntil      S   RFC 3339 (nanoseconds), UTC; absent when zero (set on previous keys)
//	retiredAt       S   RFC 3339 (nanoseconds), UTC; absent when zero (set on retired keys)
//	revokedAt       S   RFC 3339 (nanoseconds), UTC; absent when zero (set on revoked keys)
//	acknowledgedAt  S   RFC 3339 (nanoseconds), UTC; absent when zero: when the partner
//	                    confirmed it switched to the key that replaced this previous key
//	retireAt        S   RFC 3339 (nanoseconds), UTC; absent when zero: when an acknowledged
//	                    previous key stops being accepted (acknowledgedAt + the tier's drain
//	                    window, at most graceUntil)
//	graceWarnedAt   S   RFC 3339 (nanoseconds), UTC; absent when zero: when ops were warned
//	                    that this unacknowledged previous key's grace is ending
//	flushPending    BOOL true on a key retired whose retirement the authorizer cache has not
//	                    been flushed for yet; absent otherwise
//	secretArn       S   the Secrets Manager secret holding the key
//	secretVersionId S   the secret version holding this key
//	createdAt       S   RFC 3339 (nanoseconds), UTC
//
// EntryFromItem refuses an item that does not have this shape with an error naming the
// attribute; no error of this package ever contains a verifier.
package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
)

// Keys of the credentials table; the topology's declaration of table "credentials" must match.
const (
	PartitionKey = "keyId"      // S
	PartnerIndex = "by-partner" // GSI, partition key AttrPartnerID
)

// Attribute names of a registry item.
const (
	AttrKeyID           = PartitionKey
	AttrPartnerID       = "partnerId"
	AttrVerifier        = "verifier"
	AttrScopes          = "scopes"
	AttrTier            = "tier"
	AttrStatus          = "status"
	AttrNotBefore       = "notBefore"
	AttrNotAfter        = "notAfter"
	AttrGraceUntil      = "graceUntil"
	AttrRetiredAt       = "retiredAt"
	AttrRevokedAt       = "revokedAt"
	AttrAcknowledgedAt  = "acknowledgedAt"
	AttrRetireAt        = "retireAt"
	AttrGraceWarnedAt   = "graceWarnedAt"
	AttrPickedUpAt      = "pickedUpAt"
	AttrFlushPending    = "flushPending"
	AttrSecretARN       = "secretArn"
	AttrSecretVersionID = "secretVersionId"
	AttrCreatedAt       = "createdAt"
)

// Status is where a key is in its life.
type Status string

// The statuses.
const (
	// StatusPending: registered by rotation's setSecret and not accepted yet; finishSecret
	// makes it active.
	StatusPending Status = "pending"
	// StatusActive: the partner's current key, accepted within its validity window.
	StatusActive Status = "active"
	// StatusPrevious: replaced by rotation, still accepted until its grace deadline.
	StatusPrevious Status = "previous"
	// StatusRetired: its life ended without a revocation — a previous key whose grace is over
	// or that a newer rotation replaced (one previous key at a time), or a pending key a
	// later rotation superseded before it became active. Never accepted again.
	StatusRetired Status = "retired"
	// StatusRevoked: revoked by the partner or by ops (Revoke); never accepted again.
	StatusRevoked Status = "revoked"
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusActive, StatusPrevious, StatusRetired, StatusRevoked:
		return true
	}
	return false
}

// Entry is one key's registry entry.
type Entry struct {
	KeyID     credential.KeyID
	PartnerID string
	// Verifier is the SHA-256 of the whole key; every rendering of it shows [redacted].
	Verifier credential.Verifier
	// Scopes are the scopes the key grants, sorted.
	Scopes []string
	Tier   string
	Status Status
	// NotBefore and NotAfter bound an active key's validity: NotBefore <= now < NotAfter.
	NotBefore time.Time
	NotAfter  time.Time
	// GraceUntil is when a previous key stops being accepted; zero for the others.
	GraceUntil time.Time
	// RetiredAt is when a retired key was retired; zero for the others.
	RetiredAt time.Time
	// RevokedAt is when a revoked key was revoked; zero for the others.
	RevokedAt time.Time
	// AcknowledgedAt is when the partner confirmed it switched to the key that replaced this
	// previous key; zero until then.
	AcknowledgedAt time.Time
	// RetireAt is when an acknowledged previous key stops being accepted: the acknowledgement
	// plus the tier's drain window, never after GraceUntil. Zero until the acknowledgement.
	RetireAt time.Time
	// GraceWarnedAt is when ops were warned that this unacknowledged previous key's grace is
	// ending; zero until then.
	GraceWarnedAt time.Time
	// PickedUpAt is when the partner first collected this key, made current by a rotation, with
	// its previous key (GET /v1/credentials/current): the marker that records that pick-up
	// once. Zero until then, and for keys handed out otherwise.
	PickedUpAt time.Time
	// FlushPending says the key was retired and the authorizer cache has not been flushed
	// since: a flush is still owed.
	FlushPending    bool
	SecretARN       string
	SecretVersionID string
	CreatedAt       time.Time
}

// The reasons Accepts gives, for logs.
const (
	ReasonActive      = "active"
	ReasonGrace       = "previous-within-grace"
	ReasonNotYetValid = "not-yet-valid"
	ReasonExpired     = "expired"
	ReasonGraceEnded  = "previous-past-grace"
	ReasonDrained     = "previous-past-drain"
	ReasonRevoked     = "revoked"
	ReasonRetired     = "retired"
	ReasonPending     = "pending"
	ReasonUnknown     = "unknown-status"
)

// Accepts says whether the key may be used at now, and why (one of the Reason constants, safe
// to log): an active key within NotBefore <= now < NotAfter, or a previous key before its
// GraceUntil and, once the partner acknowledged its replacement, before its RetireAt. A
// pending, retired or revoked key, or one of an unknown status, is never accepted.
func (e Entry) Accepts(now time.Time) (ok bool, reason string) {
	switch e.Status {
	case StatusActive:
		switch {
		case now.Before(e.NotBefore):
			return false, ReasonNotYetValid
		case !now.Before(e.NotAfter):
			return false, ReasonExpired
		}
		return true, ReasonActive
	case StatusPrevious:
		switch {
		case !now.Before(e.GraceUntil):
			return false, ReasonGraceEnded
		case !e.RetireAt.IsZero() && !now.Before(e.RetireAt):
			return false, ReasonDrained
		}
		return true, ReasonGrace
	case StatusRevoked:
		return false, ReasonRevoked
	case StatusRetired:
		return false, ReasonRetired
	case StatusPending:
		return false, ReasonPending
	}
	return false, ReasonUnknown
}

// FormatTime renders a time as the registry stores it: RFC 3339 with nanoseconds, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Key is the table key of key id.
func Key(id credential.KeyID) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{PartitionKey: &types.AttributeValueMemberS{Value: string(id)}}
}

// item is an entry as its table holds it.
type item struct {
	KeyID           string         `dynamodbav:"keyId"`
	PartnerID       string         `dynamodbav:"partnerId"`
	Verifier        string         `dynamodbav:"verifier"`
	Scopes          []string       `dynamodbav:"scopes"` // L, sorted; never NULL
	Tier            string         `dynamodbav:"tier"`
	Status          Status         `dynamodbav:"status"`
	NotBefore       attrtime.Time  `dynamodbav:"notBefore"`
	NotAfter        attrtime.Time  `dynamodbav:"notAfter"`
	GraceUntil      *attrtime.Time `dynamodbav:"graceUntil,omitempty"`
	RetiredAt       *attrtime.Time `dynamodbav:"retiredAt,omitempty"`
	RevokedAt       *attrtime.Time `dynamodbav:"revokedAt,omitempty"`
	AcknowledgedAt  *attrtime.Time `dynamodbav:"acknowledgedAt,omitempty"`
	RetireAt        *attrtime.Time `dynamodbav:"retireAt,omitempty"`
	GraceWarnedAt   *attrtime.Time `dynamodbav:"graceWarnedAt,omitempty"`
	PickedUpAt      *attrtime.Time `dynamodbav:"pickedUpAt,omitempty"`
	FlushPending    bool           `dynamodbav:"flushPending,omitempty"`
	SecretARN       string         `dynamodbav:"secretArn"`
	SecretVersionID string         `dynamodbav:"secretVersionId"`
	CreatedAt       attrtime.Time  `dynamodbav:"createdAt"`
}

// Item renders the entry as its table item, scopes sorted. The entry must be complete: one with a
// zero Verifier or an invalid Status renders an item EntryFromItem refuses.
func (e Entry) Item() (map[string]types.AttributeValue, error) {
	scopes := append(make([]string, 0, len(e.Scopes)), e.Scopes...)
	slices.Sort(scopes)
	m, err := attributevalue.MarshalMap(item{
		KeyID: string(e.KeyID), PartnerID: e.PartnerID, Verifier: e.Verifier.Encode(), Scopes: scopes,
		Tier: e.Tier, Status: e.Status, NotBefore: attrtime.Of(e.NotBefore), NotAfter: attrtime.Of(e.NotAfter),
		GraceUntil: attrtime.Opt(e.GraceUntil), RetiredAt: attrtime.Opt(e.RetiredAt), RevokedAt: attrtime.Opt(e.RevokedAt),
		AcknowledgedAt: attrtime.Opt(e.AcknowledgedAt), RetireAt: attrtime.Opt(e.RetireAt),
		GraceWarnedAt: attrtime.Opt(e.GraceWarnedAt), PickedUpAt: attrtime.Opt(e.PickedUpAt), FlushPending: e.FlushPending,
		SecretARN: e.SecretARN, SecretVersionID: e.SecretVersionID, CreatedAt: attrtime.Of(e.CreatedAt),
	})
	if err != nil {
		return nil, fmt.Errorf("registry item %s: %w", e.KeyID, err)
	}
	return m, nil
}

// EntryFromItem reads an entry from its table item. It stays hand-written: its errors name the
// attribute and never hold a verifier. A missing or mistyped attribute, an
// unknown status, a malformed key id, verifier or time is refused with an error that names
// the attribute; the error never contains the verifier, nor a key id that is not one.
func EntryFromItem(item map[string]types.AttributeValue) (Entry, error) {
	rawID, ok := item[AttrKeyID].(*types.AttributeValueMemberS)
	if !ok {
		return Entry{}, fmt.Errorf("registry item without a string %s", AttrKeyID)
	}
	id, err := credential.ParseKeyID(rawID.Value)
	if err != nil {
		// The value is not echoed: a malformed key id might be a whole key written by mistake.
		return Entry{}, fmt.Errorf("registry item: attribute %s: %w", AttrKeyID, err)
	}
	e := Entry{KeyID: id}
	var errs []error
	// str reads a string attribute; present is false when it is absent (an error when
	// required) or not a string (always an error).
	str := func(name string, required bool) (v string, present bool) {
		switch a := item[name].(type) {
		case *types.AttributeValueMemberS:
			return a.Value, true
		case nil:
			if required {
				errs = append(errs, fmt.Errorf("attribute %s missing", name))
			}
		default:
			errs = append(errs, fmt.Errorf("attribute %s is not a string", name))
		}
		return "", false
	}
	nonEmpty := func(name string) string {
		v, present := str(name, true)
		if present && v == "" {
			errs = append(errs, fmt.Errorf("attribute %s is empty", name))
		}
		return v
	}
	when := func(name string, required bool) time.Time {
		v, present := str(name, required)
		if !present {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("attribute %s %q is not an RFC 3339 time", name, v))
			return time.Time{}
		}
		return t.UTC()
	}

	e.PartnerID = nonEmpty(AttrPartnerID)
	if v, present := str(AttrVerifier, true); present {
		// credential.ParseVerifier's errors are fixed messages: they never contain v.
		if e.Verifier, err = credential.ParseVerifier(v); err != nil {
			errs = append(errs, fmt.Errorf("attribute %s: %w", AttrVerifier, err))
		}
	}
	e.Scopes, err = scopesOf(item[AttrScopes])
	if err != nil {
		errs = append(errs, err)
	}
	e.Tier = nonEmpty(AttrTier)
	if v, present := str(AttrStatus, true); present {
		if e.Status = Status(v); !e.Status.Valid() {
			errs = append(errs, fmt.Errorf("attribute %s %q is not pending, active, previous, retired or revoked", AttrStatus, v))
		}
	}
	e.NotBefore = when(AttrNotBefore, true)
	e.NotAfter = when(AttrNotAfter, true)
	e.GraceUntil = when(AttrGraceUntil, false)
	e.RetiredAt = when(AttrRetiredAt, false)
	e.RevokedAt = when(AttrRevokedAt, false)
	e.AcknowledgedAt = when(AttrAcknowledgedAt, false)
	e.RetireAt = when(AttrRetireAt, false)
	e.GraceWarnedAt = when(AttrGraceWarnedAt, false)
	e.PickedUpAt = when(AttrPickedUpAt, false)
	switch v := item[AttrFlushPending].(type) {
	case nil:
	case *types.AttributeValueMemberBOOL:
		e.FlushPending = v.Value
	default:
		errs = append(errs, fmt.Errorf("attribute %s is not a boolean", AttrFlushPending))
	}
	e.SecretARN, _ = str(AttrSecretARN, true)
	e.SecretVersionID, _ = str(AttrSecretVersionID, true)
	e.CreatedAt = when(AttrCreatedAt, true)
	if err := errors.Join(errs...); err != nil {
		return Entry{}, fmt.Errorf("registry item %s: %w", id, err)
	}
	return e, nil
}

// scopesOf reads the scopes list: a list of non-empty strings, returned sorted.
func scopesOf(v types.AttributeValue) ([]string, error) {
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		return nil, fmt.Errorf("attribute %s missing or not a list", AttrScopes)
	}
	scopes := make([]string, 0, len(l.Value))
	for i, x := range l.Value {
		s, ok := x.(*types.AttributeValueMemberS)
		if !ok || s.Value == "" {
			return nil, fmt.Errorf("attribute %s: element %d is not a non-empty string", AttrScopes, i)
		}
		scopes = append(scopes, s.Value)
	}
	slices.Sort(scopes)
	return scopes, nil
}

// PutNew is the transaction item that registers a new entry; it fails its condition when the
// key id is already registered (a collision the key id's 100 random bits make negligible, or a
// retried write that already landed).
func PutNew(table string, e Entry) (types.TransactWriteItem, error) {
	item, err := e.Item()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#keyId)"),
		ExpressionAttributeNames: map[string]string{"#keyId": PartitionKey},
	}}, nil
}

// GetItemAPI is the part of the DynamoDB client the Store uses.
type GetItemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

var _ GetItemAPI = (*dynamodb.Client)(nil)

// ErrNotFound is returned by Get when no entry has the key id.
var ErrNotFound = errors.New("credential not found")

// Store reads the registry.
type Store struct {
	DB    GetItemAPI
	Table string
}

// Get reads the entry of key id with a strongly consistent read, so a key registered a moment
// ago, or a revocation that just landed, is seen on the next cache miss. It returns an error
// matching ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, id credential.KeyID) (Entry, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.Table),
		Key:            Key(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Entry{}, fmt.Errorf("get credential %s: %w", id, err)
	}
	if out.Item == nil {
		return Entry{}, fmt.Errorf("get credential %s: %w", id, ErrNotFound)
	}
	e, err := EntryFromItem(out.Item)
	if err != nil {
		return Entry{}, fmt.Errorf("get credential %s: %w", id, err)
	}
	if e.KeyID != id {
		return Entry{}, fmt.Errorf("get credential %s: the item found is key %s", id, e.KeyID)
	}
	return e, nil
}

// ErrNotPartners is returned by GetPartnerKey for a key registered to another partner: the
// deployment's data (or the authorizer's context) is inconsistent.
var ErrNotPartners = errors.New("the key is not the partner's")

// GetPartnerKey reads the entry of keyID (as the authorizer's context carries it: a string) and
// checks it is partnerID's, for the routes behind the partner-key authorizer.
func (s *Store) GetPartnerKey(ctx context.Context, partnerID, keyID string) (Entry, error) {
	id, err := credential.ParseKeyID(keyID)
	if err != nil {
		return Entry{}, fmt.Errorf("the key id of the request: %w", err)
	}
	e, err := s.Get(ctx, id)
	if err != nil {
		return Entry{}, fmt.Errorf("credential of the request: %w", err)
	}
	if e.PartnerID != partnerID {
		return Entry{}, fmt.Errorf("credential %s of the request, partner %s: %w", id, partnerID, ErrNotPartners)
	}
	return e, nil
}
