package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

// Revocation is one revocation as it commits: who revoked which keys of which partner, why and
// when. Extra receives it, and Credential Revoked carries the same values.
type Revocation struct {
	// ID names the revocation: "rev-" and a UUIDv7 (NewRevocationID).
	ID        string
	PartnerID string
	// KeyIDs are the keys revoked, at least one, sorted.
	KeyIDs []credential.KeyID
	// Reason is one of the events.Revocation* reasons.
	Reason string
	// Note is the operator's free text; empty when none.
	Note  string
	Actor events.Actor
	// At is the revocation's time: each key's revokedAt and the event's time.
	At time.Time
	// ReplacementKeyID is the key issued in the same transaction to replace the keys revoked
	// (ops asked for a replacement); "" when none.
	ReplacementKeyID credential.KeyID
}

// AfterCommitter is told of each revocation once it has committed, with a time read after the
// transaction returned (never before the commit).
type AfterCommitter interface {
	AfterCommit(ctx context.Context, committedAt time.Time) error
}

// Hooks are what the deployment adds to every revocation's commit, on both routes.
type Hooks struct {
	// Extra returns items to write in the revocation's transaction, beside the registry's
	// moves and Credential Revoked; nil adds none. An item whose condition fails cancels the
	// transaction like a concurrent change: the request reads again.
	Extra func(r Revocation) ([]types.TransactWriteItem, error)
	// AfterCommit is called after each successful commit; nil calls nothing. Its error is
	// logged and does not change the answer: the revocation has committed.
	AfterCommit AfterCommitter
}

// plan is what one reading decided: the keys to revoke, as read (each revocation is
// conditioned on the status read), items that must still be as read, and who revokes and why.
// A plan with no key revokes nothing.
type plan struct {
	partnerID  string
	actor      events.Actor
	reason     string
	note       string
	revoke     []registry.Entry
	conditions []types.TransactWriteItem
	// replacementKeyID and replace are a replacement's: its key, and its items in the
	// transaction, built with the revocation as it commits (nil: no replacement).
	replacementKeyID credential.KeyID
	replace          func(r Revocation) ([]types.TransactWriteItem, error)
	// tier is the partner's tier as read (a replacement's).
	tier string
	// committed is called once the transaction committed, before the AfterCommit hook; nil
	// calls nothing.
	committed func(ctx context.Context, r Revocation)
}

// committer is the commit path both routes share.
type committer struct {
	db     DynamoDBAPI
	tables Tables
	hooks  Hooks
	now    func() time.Time
}

// run reads with read and commits what it decided, reading again after a concurrent change
// (a cancelled transaction), at most maxAttempts readings. It returns the committed
// revocation, or the zero Revocation when the last reading found nothing to revoke, and the
// last plan read.
func (c committer) run(ctx context.Context, read func(ctx context.Context, now time.Time) (plan, error)) (Revocation, plan, error) {
	for attempt := 1; ; attempt++ {
		now := c.now()
		p, err := read(ctx, now)
		if err != nil || len(p.revoke) == 0 {
			return Revocation{}, p, err
		}
		r, err := c.commit(ctx, p, now)
		var changed *outbox.StateChangeError
		switch {
		case err == nil:
			if p.committed != nil {
				p.committed(ctx, r)
			}
			// The commit's time is read once the transaction has returned: a flush that
			// starts after it cannot have started before the commit.
			c.afterCommit(ctx, r, c.now())
			return r, p, nil
		case errors.As(err, &changed) && attempt < maxAttempts:
			slog.InfoContext(ctx, "revocation met a concurrent change, reading again", "partnerId", p.partnerID,
				"keyIds", keyIDStrings(r.KeyIDs), "attempt", attempt)
			continue
		}
		return Revocation{}, p, fmt.Errorf("revocation of keys %v of partner %s: %w", keyIDStrings(r.KeyIDs), p.partnerID, err)
	}
}

// commit revokes the plan's keys, each conditioned on its status read, in one transaction
// with the plan's conditions, the hooks' extra items and Credential Revoked. A cancelled
// transaction is a *outbox.StateChangeError: the caller reads again. The revocation is
// returned with its key ids even on an error, for the caller's message.
func (c committer) commit(ctx context.Context, p plan, now time.Time) (Revocation, error) {
	r := Revocation{ID: NewRevocationID(), PartnerID: p.partnerID, Reason: p.reason, Note: p.note, Actor: p.actor, At: now,
		ReplacementKeyID: p.replacementKeyID}
	items := make([]types.TransactWriteItem, 0, len(p.revoke)+len(p.conditions))
	for _, e := range p.revoke {
		item, err := registry.Revoke(c.tables.Credentials, e.KeyID, e.Status, now)
		if err != nil {
			return r, fmt.Errorf("revoke key %s: %w", e.KeyID, err)
		}
		items = append(items, item)
		r.KeyIDs = append(r.KeyIDs, e.KeyID)
	}
	slices.Sort(r.KeyIDs)
	items = append(items, p.conditions...)
	if p.replace != nil {
		replace, err := p.replace(r)
		if err != nil {
			return r, fmt.Errorf("the replacement of revocation %s: %w", r.ID, err)
		}
		items = append(items, replace...)
	}
	if c.hooks.Extra != nil {
		extra, err := c.hooks.Extra(r)
		if err != nil {
			return r, fmt.Errorf("the items of revocation %s: %w", r.ID, err)
		}
		items = append(items, extra...)
	}
	ev := &events.CredentialRevoked{
		Meta:             events.NewMeta(p.partnerID, p.actor, now),
		RevocationID:     r.ID,
		KeyIDs:           keyIDStrings(r.KeyIDs),
		Reason:           p.reason,
		Note:             p.note,
		ReplacementKeyID: string(p.replacementKeyID),
	}
	if _, err := (&outbox.Store{DB: c.db, Table: c.tables.Outbox}).Commit(ctx, p.partnerID, ev, items); err != nil {
		return r, fmt.Errorf("commit revocation %s: %w", r.ID, err)
	}
	slog.InfoContext(ctx, "keys revoked", "partnerId", p.partnerID, "keyIds", ev.KeyIDs, "reason", p.reason,
		"actorKind", p.actor.Kind, "actor", p.actor.ID, "revocationId", r.ID, "eventId", ev.EventID,
		"replacementKeyId", ev.ReplacementKeyID)
	return r, nil
}

// afterCommit calls the AfterCommit hook, logging its error.
func (c committer) afterCommit(ctx context.Context, r Revocation, committedAt time.Time) {
	if c.hooks.AfterCommit == nil {
		return
	}
	if err := c.hooks.AfterCommit.AfterCommit(ctx, committedAt); err != nil {
		slog.ErrorContext(ctx, "after the revocation's commit", "partnerId", r.PartnerID, "revocationId", r.ID, "error", err.Error())
	}
}

func keyIDStrings(ids []credential.KeyID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// Tracked is the Extra hook of a deployment that proves its revocations: each revocation's
// item in the revocations table (revocations.Open, pending until every enforcer reported)
// commits with the registry's moves and Credential Revoked, so the tracker never meets a
// report of a revocation it does not know.
func Tracked(table string) func(Revocation) ([]types.TransactWriteItem, error) {
	return func(r Revocation) ([]types.TransactWriteItem, error) {
		ids := make([]string, len(r.KeyIDs))
		for i, id := range r.KeyIDs {
			ids[i] = string(id)
		}
		item, err := revocations.Open(table, revocations.Revocation{
			ID: r.ID, PartnerID: r.PartnerID, KeyIDs: ids, Reason: r.Reason, Note: r.Note, Actor: r.Actor, RevokedAt: r.At,
		})
		if err != nil {
			return nil, fmt.Errorf("revocation %s: %w", r.ID, err)
		}
		return []types.TransactWriteItem{item}, nil
	}
}
