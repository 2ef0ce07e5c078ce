package invite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"

	"github.com/lanyardhq/lanyard/shared/domain/partnername"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// DynamoDBAPI is the part of the DynamoDB client the Store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store issues and looks up invites in the invites table.
type Store struct {
	DB    DynamoDBAPI
	Table string
	// Outbox records each invite issued (Invite Issued, on the ops chain) in the transaction
	// that writes it; Issue refuses to issue without it. Lookup does not use it.
	Outbox *outbox.Store
	Now    func() time.Time
}

// Issue makes a new invite for partnerName (as partnername.Normalize returns it) into tier, working for expiresIn (rounded down to
// whole seconds, at least one), issued by createdBy (the caller's IAM ARN). It writes the
// invite — its code's hash, never the code — only if no item has that hash, in one outbox
// transaction with Invite Issued on the ops chain (outbox.OpsChain: the invite's id, partner
// name, tier, expiry and issuer; never the code or its hash), and returns the code, which
// exists nowhere else: the caller shows it once. An invite whose record does not commit is not
// written, and its code is dropped.
func (s *Store) Issue(ctx context.Context, partnerName, tier string, expiresIn time.Duration, createdBy string) (secret.Value, Invite, error) {
	switch {
	case partnerName == "" || tier == "" || createdBy == "":
		return secret.Value{}, Invite{}, errors.New("issue invite: partner name, tier and creator are required")
	case expiresIn < time.Second:
		return secret.Value{}, Invite{}, fmt.Errorf("issue invite: expiry %s is under a second", expiresIn)
	case s.Outbox == nil:
		return secret.Value{}, Invite{}, errors.New("issue invite: no outbox to record it in")
	}
	if n, err := partnername.Normalize(partnerName); err != nil || n != partnerName {
		return secret.Value{}, Invite{}, errors.New("issue invite: the partner name is not one partnername.Normalize returns")
	}
	now := s.Now().UTC()
	code := NewCode()
	inv := Invite{
		Hash:        Hash(code),
		ID:          NewID(),
		PartnerName: partnerName,
		Tier:        tier,
		Status:      StatusIssued,
		ExpiresAt:   now.Add(expiresIn).Truncate(time.Second),
		CreatedAt:   now,
		CreatedBy:   createdBy,
	}
	put, err := invites.PutNew(s.Table, inv)
	if err != nil {
		return secret.Value{}, Invite{}, fmt.Errorf("put invite %s: %w", inv.ID, err)
	}
	issued := &events.InviteIssued{
		Meta:        events.NewMeta(events.AllPartners, events.Actor{Kind: events.ActorOps, ID: createdBy}, now),
		InviteID:    inv.ID,
		PartnerName: inv.PartnerName,
		Tier:        inv.Tier,
		ExpiresAt:   inv.ExpiresAt,
	}
	item := types.TransactWriteItem{Put: &types.Put{
		TableName: put.TableName, Item: put.Item,
		ConditionExpression: put.ConditionExpression, ExpressionAttributeNames: put.ExpressionAttributeNames,
	}}
	if _, err := s.Outbox.Commit(ctx, outbox.OpsChain, issued, []types.TransactWriteItem{item}); err != nil {
		// A failed condition of the invite's Put means a 256-bit random code collided: not
		// worth a retry path, and the error says so plainly.
		return secret.Value{}, Invite{}, fmt.Errorf("put invite %s with its record: %w", inv.ID, err)
	}
	return code, inv, nil
}

// Lookup returns the invite of code if it can be redeemed now. A code that is malformed,
// unknown, already redeemed or expired gives an error matching ErrInvalid (an *InvalidError
// saying which, for the log); a malformed code is refused without reading the table. The read
// is strongly consistent, so an invite redeemed a moment ago is seen as redeemed.
func (s *Store) Lookup(ctx context.Context, code secret.Value) (Invite, error) {
	if !WellFormed(code) {
		return Invite{}, &InvalidError{Reason: "malformed"}
	}
	inv, found, err := invites.Get(ctx, s.DB, s.Table, Hash(code))
	if err != nil {
		return Invite{}, fmt.Errorf("get invite: %w", err)
	}
	if !found {
		return Invite{}, &InvalidError{Reason: "unknown"}
	}
	if ok, reason := inv.Usable(s.Now()); !ok {
		return Invite{}, &InvalidError{Reason: reason, InviteID: inv.ID}
	}
	return inv, nil
}
