package token_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// Every exchange is recorded before it is answered, on the environment's exchange lane of the
// partner, one transaction each and no read of the lane's head: an exchange is two DynamoDB
// calls, the registry read and the record's transaction. The record names the session, never
// its credentials.
func TestExchangesAreRecordedOnTheLane(t *testing.T) {
	t.Parallel()
	h, f, db := fixture(t, entry("premium", "orders:write", "orders:read"))
	f.secretKey, f.sessionToken = "canary-secret-access-key", "canary-session-token"
	for range 3 {
		if resp, err := h.Handle(t.Context(), tokenRequest("")); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v %s", resp.StatusCode, err, resp.Body)
		}
	}
	if gets, writes := db.Calls("GetItem"), db.Calls("TransactWriteItems"); gets != 3 || writes != 3 {
		t.Errorf("%d GetItem and %d TransactWriteItems calls for 3 exchanges, want 3 and 3", gets, writes)
	}
	chain := outbox.ExchangeChain(partnerID, lane)
	store := &outbox.Store{DB: db, Table: outboxTable}
	recs, err := store.Records(t.Context(), chain)
	if err != nil || len(recs) != 3 {
		t.Fatalf("records on %s: %d, %v", chain, len(recs), err)
	}
	if err := store.VerifyChain(t.Context(), chain); err != nil {
		t.Errorf("lane chain: %v", err)
	}
	if life, _ := store.Records(t.Context(), partnerID); len(life) != 0 {
		t.Errorf("%d records on the partner's lifecycle chain", len(life))
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.DetailType != events.TypeTokenExchanged {
			t.Errorf("record %d: seq %d %s", i, r.Seq, r.DetailType)
		}
		for _, secret := range []string{f.secretKey, f.sessionToken, "ASIAFAKEACCESSKEYID0"} {
			if strings.Contains(string(r.Detail), secret) {
				t.Errorf("record %d holds the session's credentials", i)
			}
		}
	}
	var got events.TokenExchanged
	if err := json.Unmarshal(recs[0].Detail, &got); err != nil {
		t.Fatal(err)
	}
	want := events.TokenExchanged{Meta: got.Meta, KeyID: keyID, Tier: "premium", RoleSessionName: token.SessionName(partnerID),
		ExpiresAt: now.Add(time.Hour), Scopes: []string{"orders:read", "orders:write"}}
	if !got.ExpiresAt.Equal(want.ExpiresAt) || got.KeyID != want.KeyID || got.Tier != want.Tier || got.RoleSessionName != want.RoleSessionName ||
		!slices.Equal(got.Scopes, want.Scopes) || got.Actor != (events.Actor{Kind: events.ActorPartner, ID: partnerID}) || got.PartnerID != partnerID {
		t.Errorf("recorded %+v, want %+v by the partner", got, want)
	}
	chains, err := store.Chains(t.Context(), partnerID)
	if err != nil || !slices.Equal(chains, []string{chain}) {
		t.Errorf("the partner's chains %v, %v", chains, err)
	}
}

// An exchange whose record does not commit is not answered: STS made the session, but the
// partner gets 503 unavailable without the credentials, and no record exists. The next
// exchange reads the lane's head again and is recorded.
func TestExchangeFailsClosed(t *testing.T) {
	t.Parallel()
	for _, fault := range ddbfault.Faults() {
		t.Run(fault.Name, func(t *testing.T) {
			t.Parallel()
			h, f, db := fixture(t, entry("standard", "orders:read"))
			f.secretKey, f.sessionToken = "canary-secret-access-key", "canary-session-token"
			failing := &ddbfault.Fake{DynamoDB: db, Fault: &fault}
			h.Outbox.DB = failing
			resp, err := h.Handle(t.Context(), tokenRequest(""))
			p := problemOf(t, resp)
			if resp.StatusCode != 503 || p.Type != problem.Unavailable.URI() {
				t.Errorf("%d %s, want 503 unavailable", resp.StatusCode, resp.Body)
			}
			for _, secret := range []string{f.secretKey, f.sessionToken, "ASIAFAKEACCESSKEYID0"} {
				if strings.Contains(resp.Body, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Error("the failed exchange answered or logged the session's credentials")
				}
			}
			if len(f.calls()) != 1 || failing.Calls.Load() != 1 {
				t.Errorf("%d AssumeRole, %d failed transactions", len(f.calls()), failing.Calls.Load())
			}
			store := &outbox.Store{DB: db, Table: outboxTable}
			if recs, _ := store.Records(t.Context(), outbox.ExchangeChain(partnerID, lane)); len(recs) != 0 {
				t.Errorf("%d records after a failed commit", len(recs))
			}

			failing.Fault = nil
			gets := db.Calls("GetItem")
			if resp, err := h.Handle(t.Context(), tokenRequest("")); err != nil || resp.StatusCode != 200 {
				t.Fatalf("the exchange once DynamoDB answers: %d %v", resp.StatusCode, err)
			}
			if n := db.Calls("GetItem") - gets; n != 2 { // the registry, and the lane's head after the failure
				t.Errorf("%d GetItem calls after a failed commit, want 2", n)
			}
			if recs, _ := store.Records(t.Context(), outbox.ExchangeChain(partnerID, lane)); len(recs) != 1 {
				t.Errorf("%d records, want 1", len(recs))
			}
		})
	}
}
