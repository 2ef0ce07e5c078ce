package revoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

const opsARN = "arn:aws:iam::123456789012:user/ops-alice"

var adminTables = revoke.AdminTables{Tables: tables, Partners: "partners"}

// adminFixture is fixture's partners A and B with their partner items (A's naming its current,
// previous and pending keys), and the ops route's handler. Its PartnerKeys lists the registry's
// keys of a partner, as the by-partner index would, except the ids in lagging.
type adminFixture struct {
	*fixture
	a       *revoke.AdminHandler
	lagging map[credential.KeyID]bool
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	fx := &adminFixture{fixture: newFixture(t), lagging: map[credential.KeyID]bool{}}
	fx.db.CreateTable(adminTables.Partners, dynamodbtest.KeyAttr{Name: partners.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
	fx.putPartner(partnerA, fx.current, fx.previous.ID(), fx.pending.ID())
	fx.putPartner(partnerB, fx.other, "", "")
	fx.a = &revoke.AdminHandler{DB: fx.db, Tables: adminTables, Now: func() time.Time { return t0 },
		PartnerKeys: func(_ context.Context, pid string) ([]credential.KeyID, error) {
			var ids []credential.KeyID
			for id, e := range fx.entries {
				if e.PartnerID == pid && !fx.lagging[id] {
					ids = append(ids, id)
				}
			}
			return ids, nil
		}}
	return fx
}

func (fx *adminFixture) putPartner(pid string, current credential.Key, previous, pending credential.KeyID) {
	fx.t.Helper()
	item := itemtest.Must(partners.Partner{
		PartnerID: pid, PartnerName: "Acme Logistics", Tier: "standard", Scopes: []string{"orders:read"},
		Status: partners.StatusActive, KeyID: string(current.ID()),
		SecretARN:      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partners/" + pid + "-AbCdEf",
		IdentityMethod: partners.IdentityMethodInvite, InviteID: "inv-1", Justification: "test", PolicyRevision: 1, CreatedAt: t0.Add(-time.Hour),
	}.Item())(fx.t)
	if previous != "" {
		item[partners.AttrPreviousKeyID] = &types.AttributeValueMemberS{Value: string(previous)}
	}
	if pending != "" {
		item[partners.AttrPendingKeyID] = &types.AttributeValueMemberS{Value: string(pending)}
	}
	if _, err := fx.db.PutItem(fx.t.Context(), &dynamodb.PutItemInput{TableName: aws.String(adminTables.Partners), Item: item}); err != nil {
		fx.t.Fatal(err)
	}
}

// adminRequest is the ops route's request for partner pid with body, signed by opsARN.
func adminRequest(pid, body string) lambdaevents.APIGatewayProxyRequest {
	return lambdaevents.APIGatewayProxyRequest{
		Resource: revoke.AdminResource, Path: "/v1/admin/partners/" + pid + "/revoke", HTTPMethod: http.MethodPost,
		PathParameters: map[string]string{revoke.PartnerIDParameter: pid},
		Headers:        map[string]string{"Content-Type": "application/json"},
		Body:           body,
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{Identity: lambdaevents.APIGatewayRequestIdentity{UserArn: opsARN}},
	}
}

func (fx *adminFixture) callAdmin(req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
	fx.t.Helper()
	resp, err := fx.a.Handle(fx.t.Context(), req)
	fx.c.CheckError(err)
	if err != nil {
		fx.t.Fatalf("Handle returned an error: %v", err)
	}
	fx.c.CheckText("response", resp.Body)
	return resp
}

func (fx *adminFixture) revokeOK(pid, body string) revoke.AdminRevocation {
	fx.t.Helper()
	resp := fx.callAdmin(adminRequest(pid, body))
	if resp.StatusCode != http.StatusOK || resp.Headers["Cache-Control"] != "no-store" {
		fx.t.Fatalf("answer %d %v %s, want 200 no-store", resp.StatusCode, resp.Headers, resp.Body)
	}
	matchesSchema(fx.t, "AdminRevocation", resp.Body)
	var out revoke.AdminRevocation
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		fx.t.Fatal(err)
	}
	return out
}

// matchesSchema checks body against the OpenAPI document's schema name.
func matchesSchema(t *testing.T, name, body string) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.Document()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(api.DocumentURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(api.DocumentURL + "#/components/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("body does not match schema %s: %v", name, err)
	}
}

func ids(ks ...credential.Key) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, string(k.ID()))
	}
	slices.Sort(out)
	return out
}

func TestAdminRevoke(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body func(fx *adminFixture) string
		// revoked are the keys of partner A the request revokes.
		revoked func(fx *adminFixture) []credential.Key
		reason  string
		note    string
	}{
		{"one key, requested",
			func(fx *adminFixture) string {
				return `{"keyId":"` + string(fx.previous.ID()) + `","reason":"requested","note":"ticket OPS-1234 — partner asked"}`
			},
			func(fx *adminFixture) []credential.Key { return []credential.Key{fx.previous} }, events.RevocationRequested, "ticket OPS-1234 — partner asked"},
		{"one key with all false, offboarded",
			func(fx *adminFixture) string {
				return `{"keyId":"` + string(fx.current.ID()) + `","all":false,"reason":"offboarded"}`
			},
			func(fx *adminFixture) []credential.Key { return []credential.Key{fx.current} }, events.RevocationOffboarded, ""},
		{"every key, other",
			func(*adminFixture) string { return `{"all":true,"reason":"other","note":""}` },
			func(fx *adminFixture) []credential.Key { return []credential.Key{fx.current, fx.previous, fx.pending} }, events.RevocationOther, ""},
		{"one key compromised revokes every key",
			func(fx *adminFixture) string {
				return `{"keyId":"` + string(fx.pending.ID()) + `","reason":"compromised"}`
			},
			func(fx *adminFixture) []credential.Key { return []credential.Key{fx.current, fx.previous, fx.pending} }, events.RevocationCompromised, ""},
		{"one key leaked revokes every key",
			func(fx *adminFixture) string {
				return `{"keyId":"` + string(fx.previous.ID()) + `","reason":"leaked","note":"found in a public repository"}`
			},
			func(fx *adminFixture) []credential.Key { return []credential.Key{fx.current, fx.previous, fx.pending} }, events.RevocationLeaked, "found in a public repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newAdminFixture(t)
			body := tc.body(fx)
			want := tc.revoked(fx)
			out := fx.revokeOK(partnerA, body)
			if !strings.HasPrefix(out.RevocationID, "rev-") || out.PartnerID != partnerA || !reflect.DeepEqual(out.KeyIDs, ids(want...)) ||
				len(out.AlreadyEnded) != 0 || out.Reason != tc.reason || out.RevokedAt == nil || !out.RevokedAt.Equal(t0) {
				t.Errorf("answer %+v, want keys %v", out, ids(want...))
			}
			for _, k := range []credential.Key{fx.current, fx.previous, fx.pending, fx.other} {
				wantStatus := fx.entries[k.ID()].Status
				if slices.Contains(want, k) {
					wantStatus = registry.StatusRevoked
				}
				if got := fx.status(k); got != wantStatus {
					t.Errorf("key %s is %s, want %s", k.ID(), got, wantStatus)
				}
			}
			revs := fx.revocations(partnerA)
			if len(revs) != 1 {
				t.Fatalf("%d Credential Revoked records, want 1", len(revs))
			}
			ev := revs[0]
			if ev.RevocationID != out.RevocationID || !reflect.DeepEqual(ev.KeyIDs, ids(want...)) || ev.Reason != tc.reason || ev.Note != tc.note ||
				ev.Actor != (events.Actor{Kind: events.ActorOps, ID: opsARN}) || ev.PartnerID != partnerA || !ev.Time.Equal(t0) {
				t.Errorf("event %+v", ev)
			}
			if n := len(fx.revocations(partnerB)); n != 0 {
				t.Errorf("partner B's outbox holds %d revocations", n)
			}

			// Again: nothing left to revoke, the keys are reported ended, nothing is recorded.
			again := fx.revokeOK(partnerA, body)
			if again.RevocationID != "" || len(again.KeyIDs) != 0 || !reflect.DeepEqual(again.AlreadyEnded, ids(want...)) || again.RevokedAt != nil {
				t.Errorf("second answer %+v, want nothing revoked and %v ended", again, ids(want...))
			}
			if n := len(fx.revocations(partnerA)); n != 1 {
				t.Errorf("%d revocations after the second call, want 1", n)
			}
		})
	}
}

// The answer's JSON: no revocation id nor time when nothing was revoked, and empty lists, never
// null.
func TestAdminRevokeNothingLeftAnswer(t *testing.T) {
	t.Parallel()
	fx := newAdminFixture(t)
	fx.revokeOK(partnerB, `{"all":true,"reason":"offboarded"}`)
	resp := fx.callAdmin(adminRequest(partnerB, `{"all":true,"reason":"offboarded"}`))
	want := `{"partnerId":"` + partnerB + `","keyIds":[],"alreadyEnded":["` + string(fx.other.ID()) + `"],"reason":"offboarded"}`
	if resp.StatusCode != http.StatusOK || resp.Body != want {
		t.Errorf("answer %d %s, want 200 %s", resp.StatusCode, resp.Body, want)
	}
}

func TestAdminRevokeNotFound(t *testing.T) {
	t.Parallel()
	fx := newAdminFixture(t)
	for _, tc := range []struct{ name, pid, body string }{
		{"unknown partner", "p-cccccccccccccccccccccccccc", `{"all":true,"reason":"compromised"}`},
		{"unknown partner, one key", "p-cccccccccccccccccccccccccc", `{"keyId":"` + string(fx.other.ID()) + `","reason":"requested"}`},
		{"malformed partner id", "acct#123456789012", `{"all":true,"reason":"compromised"}`},
		{"another partner's key", partnerA, `{"keyId":"` + string(fx.other.ID()) + `","reason":"requested"}`},
		{"unknown key", partnerA, `{"keyId":"` + string(fx.newKey().ID()) + `","reason":"requested"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.callAdmin(adminRequest(tc.pid, tc.body))
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Body, problem.NotFound.URI()) {
				t.Errorf("answer %d %s, want 404 not-found", resp.StatusCode, resp.Body)
			}
		})
	}
	for _, k := range []credential.Key{fx.current, fx.previous, fx.pending, fx.other} {
		if got := fx.status(k); got != fx.entries[k.ID()].Status {
			t.Errorf("key %s is %s", k.ID(), got)
		}
	}
}

func TestAdminRevokeBadRequests(t *testing.T) {
	t.Parallel()
	fx := newAdminFixture(t)
	key := string(fx.current.ID())
	for _, tc := range []struct{ name, body string }{
		{"keyId and all", `{"keyId":"` + key + `","all":true,"reason":"requested"}`},
		{"neither keyId nor all", `{"reason":"requested"}`},
		{"all false", `{"all":false,"reason":"compromised"}`},
		{"no reason", `{"keyId":"` + key + `"}`},
		{"unknown reason", `{"keyId":"` + key + `","reason":"bored"}`},
		{"reason in capitals", `{"keyId":"` + key + `","reason":"Compromised"}`},
		{"malformed key id", `{"keyId":"k_zzzxyz","reason":"requested"}`},
		{"note too long", `{"all":true,"reason":"other","note":"` + strings.Repeat("é", revoke.MaxNoteLength+1) + `"}`},
		{"note with a line break", `{"all":true,"reason":"other","note":"one\ntwo"}`},
		{"note with a tab", `{"all":true,"reason":"other","note":"one\ttwo"}`},
		{"note with a NUL", `{"all":true,"reason":"other","note":"one\u0000two"}`},
		{"note with an escape", `{"all":true,"reason":"other","note":"\u001b[31mred"}`},
		{"note with a direction override", `{"all":true,"reason":"other","note":"abc\u202edef"}`},
		{"note with a key", `{"all":true,"reason":"leaked","note":"leaked: ` + fx.current.Plaintext().Reveal() + ` in a gist"}`},
		{"unknown member", `{"all":true,"reason":"other","partnerId":"` + partnerB + `"}`},
		{"a member twice", `{"all":true,"reason":"requested","reason":"compromised"}`},
		{"all as a string", `{"all":"true","reason":"other"}`},
		{"not JSON", `all=true&reason=other`},
		{"an array", `[{"all":true,"reason":"other"}]`},
		{"two objects", `{"all":true,"reason":"other"}{"all":true,"reason":"other"}`},
		{"empty body", ``},
		{"too large", `{"all":true,"reason":"other","note":"` + strings.Repeat(" ", 20000) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.callAdmin(adminRequest(partnerA, tc.body))
			matchesSchema(t, "Problem", resp.Body)
			var p problem.Problem
			if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || p.Type != problem.AdminRevocationInvalid.URI() || p.Detail == "" {
				t.Errorf("answer %d %+v, want 400 admin-revocation-invalid", resp.StatusCode, p)
			}
			if strings.Contains(p.Detail, "bored") || strings.Contains(p.Detail, "zzzxyz") {
				t.Errorf("the detail echoes the body: %q", p.Detail)
			}
		})
	}
	t.Run("not sent as JSON", func(t *testing.T) {
		req := adminRequest(partnerA, `{"all":true,"reason":"other"}`)
		req.Headers["Content-Type"] = "text/plain"
		if resp := fx.callAdmin(req); resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("answer %d %s, want 415", resp.StatusCode, resp.Body)
		}
	})
	for _, k := range []credential.Key{fx.current, fx.previous, fx.pending} {
		if got := fx.status(k); got != fx.entries[k.ID()].Status {
			t.Errorf("key %s is %s", k.ID(), got)
		}
	}
	if n := len(fx.revocations(partnerA)); n != 0 {
		t.Errorf("%d revocations, want none", n)
	}
}

// A rotation that registers a pending key between the reading and the commit of "every key"
// cancels the transaction (the partner's item no longer names the keys read); the request
// reads again and revokes the new key too, though the index does not list it yet.
func TestAdminRevokeEveryKeyMeetsARotation(t *testing.T) {
	t.Parallel()
	fx := newAdminFixture(t)
	var late credential.Key
	slipped := false
	fx.db.Intercept = func(op string, _ any) error {
		if op != "TransactWriteItems" || slipped {
			return nil
		}
		slipped = true
		// The rotation's setSecret, after the pending key of the fixture was itself revoked
		// out of band: the partner's item now names another pending key.
		late = fx.register(partnerA, registry.StatusPending)
		fx.lagging[late.ID()] = true
		fx.putPartner(partnerA, fx.current, fx.previous.ID(), late.ID())
		return nil
	}
	out := fx.revokeOK(partnerA, `{"all":true,"reason":"compromised"}`)
	if want := ids(fx.current, fx.previous, fx.pending, late); !reflect.DeepEqual(out.KeyIDs, want) {
		t.Errorf("revoked %v, want %v", out.KeyIDs, want)
	}
	for _, k := range []credential.Key{fx.current, fx.previous, fx.pending, late} {
		if got := fx.status(k); got != registry.StatusRevoked {
			t.Errorf("key %s is %s, want revoked", k.ID(), got)
		}
	}
	if revs := fx.revocations(partnerA); len(revs) != 1 || len(revs[0].KeyIDs) != 4 {
		t.Errorf("revocations %+v, want one of 4 keys", revs)
	}
}

// recorder is an AfterCommit hook that records its calls.
type recorder struct{ at []time.Time }

func (r *recorder) AfterCommit(_ context.Context, at time.Time) error {
	r.at = append(r.at, at)
	return nil
}

// The hooks: Extra receives the revocation as it commits (id, partner, sorted key ids, reason,
// note, actor, time) and its items commit in the same transaction; AfterCommit is called once
// per commit, after it, on both routes; a revocation that changes nothing calls neither.
func TestHooks(t *testing.T) {
	t.Parallel()
	const extraTable = "extra"
	hooks := func(fx *adminFixture, got *[]revoke.Revocation, after *recorder) revoke.Hooks {
		fx.db.CreateTable(extraTable, dynamodbtest.KeyAttr{Name: "id", Type: types.ScalarAttributeTypeS}, nil)
		return revoke.Hooks{
			Extra: func(r revoke.Revocation) ([]types.TransactWriteItem, error) {
				*got = append(*got, r)
				return []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(extraTable),
					Item: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: r.ID}}}}}, nil
			},
			AfterCommit: after,
		}
	}
	extraItem := func(fx *adminFixture, id string) bool {
		out, err := fx.db.GetItem(fx.t.Context(), &dynamodb.GetItemInput{TableName: aws.String(extraTable),
			Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}})
		if err != nil {
			fx.t.Fatal(err)
		}
		return len(out.Item) > 0
	}
	t.Run("ops", func(t *testing.T) {
		t.Parallel()
		fx := newAdminFixture(t)
		var got []revoke.Revocation
		after := &recorder{}
		fx.a.Hooks = hooks(fx, &got, after)
		out := fx.revokeOK(partnerA, `{"keyId":"`+string(fx.pending.ID())+`","reason":"leaked","note":"pasted in a chat"}`)
		want := revoke.Revocation{ID: out.RevocationID, PartnerID: partnerA,
			KeyIDs: []credential.KeyID{}, Reason: events.RevocationLeaked, Note: "pasted in a chat",
			Actor: events.Actor{Kind: events.ActorOps, ID: opsARN}, At: t0}
		for _, id := range ids(fx.current, fx.previous, fx.pending) {
			want.KeyIDs = append(want.KeyIDs, credential.KeyID(id))
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("Extra received %+v, want %+v", got, want)
		}
		if !extraItem(fx, out.RevocationID) {
			t.Error("the extra item was not written")
		}
		if len(after.at) != 1 || after.at[0].Before(t0) {
			t.Errorf("AfterCommit called at %v, want once, not before %s", after.at, t0)
		}
		fx.revokeOK(partnerA, `{"all":true,"reason":"leaked"}`)
		if len(got) != 1 || len(after.at) != 1 {
			t.Errorf("a revocation that changed nothing called the hooks: %d %d", len(got), len(after.at))
		}
	})
	t.Run("partner", func(t *testing.T) {
		t.Parallel()
		fx := newAdminFixture(t)
		var got []revoke.Revocation
		after := &recorder{}
		fx.h.Hooks = hooks(fx, &got, after)
		if resp := fx.call(request(partnerA, fx.current, revoke.FormContentType, form(fx.previous.Plaintext().Reveal()))); resp.StatusCode != http.StatusOK {
			t.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
		}
		revs := fx.revocations(partnerA)
		if len(revs) != 1 {
			t.Fatalf("%d revocations", len(revs))
		}
		want := revoke.Revocation{ID: revs[0].RevocationID, PartnerID: partnerA, KeyIDs: []credential.KeyID{fx.previous.ID()},
			Reason: events.RevocationRequested, Actor: events.Actor{Kind: events.ActorPartner, ID: partnerA}, At: t0}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("Extra received %+v, want %+v", got, want)
		}
		if !extraItem(fx, revs[0].RevocationID) || len(after.at) != 1 {
			t.Errorf("extra item written %t, AfterCommit calls %d", extraItem(fx, revs[0].RevocationID), len(after.at))
		}
	})
}

// An extra item whose condition keeps failing cancels every attempt: three readings, then a
// fault; nothing is revoked and AfterCommit is not called.
func TestExtraItemThatKeepsFailing(t *testing.T) {
	t.Parallel()
	fx := newAdminFixture(t)
	after := &recorder{}
	calls := 0
	fx.a.Hooks = revoke.Hooks{
		Extra: func(revoke.Revocation) ([]types.TransactWriteItem, error) {
			calls++
			return []types.TransactWriteItem{registry.StillStatus(tables.Credentials, fx.other.ID(), registry.StatusRevoked)}, nil
		},
		AfterCommit: after,
	}
	resp := fx.callAdmin(adminRequest(partnerA, `{"all":true,"reason":"compromised"}`))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("answer %d %s, want 500", resp.StatusCode, resp.Body)
	}
	if calls != 3 || len(after.at) != 0 {
		t.Errorf("Extra called %d times (want 3), AfterCommit %d (want 0)", calls, len(after.at))
	}
	if got := fx.status(fx.current); got != registry.StatusActive {
		t.Errorf("the current key is %s", got)
	}
}

// Tracked opens each revocation's item in the revocation's own transaction: pending, with the
// keys, reason, note, actor and time Credential Revoked carries; a call that revokes nothing
// opens nothing.
func TestTrackedOpensTheRevocationInItsTransaction(t *testing.T) {
	t.Parallel()
	const table = "revocations"
	fx := newAdminFixture(t)
	fx.db.CreateTable(table, dynamodbtest.KeyAttr{Name: revocations.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: revocations.SortKey, Type: types.ScalarAttributeTypeS})
	fx.a.Hooks = revoke.Hooks{Extra: revoke.Tracked(table)}
	out := fx.revokeOK(partnerA, `{"keyId":"`+string(fx.pending.ID())+`","reason":"offboarded","note":"contract ended"}`)
	store := &revocations.Store{DB: fx.db, Table: table}
	r, reports, err := store.Get(t.Context(), out.RevocationID)
	if err != nil {
		t.Fatalf("the revocation's item: %v", err)
	}
	want := revocations.Revocation{ID: out.RevocationID, PartnerID: partnerA, KeyIDs: []string{string(fx.pending.ID())},
		Reason: events.RevocationOffboarded, Note: "contract ended", Actor: events.Actor{Kind: events.ActorOps, ID: opsARN},
		RevokedAt: t0, Status: revocations.StatusPending}
	if !reflect.DeepEqual(r, want) || len(reports) != 0 {
		t.Errorf("revocation %+v with %d reports, want %+v and none", r, len(reports), want)
	}
	again := fx.revokeOK(partnerA, `{"keyId":"`+string(fx.pending.ID())+`","reason":"offboarded"}`)
	if again.RevocationID != "" {
		t.Errorf("revoking the revoked key again opened revocation %s", again.RevocationID)
	}
}
