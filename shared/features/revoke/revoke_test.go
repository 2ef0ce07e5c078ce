package revoke_test

import (
	"encoding/json"
	"hash/crc32"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

var (
	tables = revoke.Tables{Credentials: "credentials", Outbox: "outbox"}
	t0     = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

const (
	partnerA = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	partnerB = "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// fixture is partner A with a current, a previous (in grace) and a pending key, and partner B
// with its current key, in a DynamoDB fake.
type fixture struct {
	t                          *testing.T
	c                          *secrettest.Canaries
	db                         *dynamodbtest.DynamoDB
	h                          *revoke.Handler
	current, previous, pending credential.Key
	other                      credential.Key
	entries                    map[credential.KeyID]registry.Entry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	s := func(name string) dynamodbtest.KeyAttr {
		return dynamodbtest.KeyAttr{Name: name, Type: types.ScalarAttributeTypeS}
	}
	db.CreateTable(tables.Credentials, s(registry.PartitionKey), nil)
	db.CreateTable(tables.Outbox, s(outbox.PartitionKey), &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	fx := &fixture{t: t, c: secrettest.Plant(t), db: db, entries: map[credential.KeyID]registry.Entry{},
		h: &revoke.Handler{DB: db, Tables: tables, Now: func() time.Time { return t0 }}}
	fx.current = fx.register(partnerA, registry.StatusActive)
	fx.previous = fx.register(partnerA, registry.StatusPrevious)
	fx.pending = fx.register(partnerA, registry.StatusPending)
	fx.other = fx.register(partnerB, registry.StatusActive)
	return fx
}

func (fx *fixture) register(partnerID string, status registry.Status) credential.Key {
	fx.t.Helper()
	k := fx.newKey()
	e := registry.Entry{
		KeyID: k.ID(), PartnerID: partnerID, Verifier: credential.NewVerifier(k), Scopes: []string{"orders:read"},
		Tier: "standard", Status: status, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(90 * 24 * time.Hour),
		SecretARN:       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partners/" + partnerID + "-AbCdEf",
		SecretVersionID: "3f1d2c4b-5a6e-4f70-8192-a3b4c5d6e7f8", CreatedAt: t0.Add(-2 * time.Hour),
	}
	if status == registry.StatusPrevious {
		e.GraceUntil = t0.Add(24 * time.Hour)
	}
	if _, err := fx.db.TransactWriteItems(fx.t.Context(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{itemtest.Must(registry.PutNew(tables.Credentials, e))(fx.t)},
	}); err != nil {
		fx.t.Fatal(err)
	}
	fx.entries[k.ID()] = e
	return k
}

func (fx *fixture) newKey() credential.Key {
	fx.t.Helper()
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.c.Add("key "+string(k.ID()), k.Plaintext().Reveal())
	return k
}

// forged is a well-formed key (checksum included) with k's key id and another secret.
func (fx *fixture) forged(k credential.Key) string {
	fx.t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	other := fx.newKey().Plaintext().Reveal()
	real := k.Plaintext().Reveal()
	secretStart := strings.LastIndexByte(real, '_') + 1
	body := []byte(real[:secretStart] + other[secretStart:len(other)-6])
	crc := crc32.ChecksumIEEE(body)
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = base62[crc%62]
		crc /= 62
	}
	s := string(body) + string(sum)
	if p, err := credential.Parse(s); err != nil || p.ID() != k.ID() {
		fx.t.Fatalf("forged key does not parse as key %s: %v", k.ID(), err)
	}
	fx.c.Add("forged key", s)
	return s
}

// request is POST /v1/revoke made with caller (a key of partner callerPartner) with body.
func request(callerPartner string, caller credential.Key, contentType, body string) lambdaevents.APIGatewayProxyRequest {
	req := lambdaevents.APIGatewayProxyRequest{
		Resource: revoke.Resource, Path: revoke.Resource, HTTPMethod: http.MethodPost, Body: body,
		Headers: map[string]string{},
		RequestContext: lambdaevents.APIGatewayProxyRequestContext{Authorizer: map[string]any{
			apigw.ContextPartnerID: callerPartner, apigw.ContextKeyID: string(caller.ID()),
		}},
	}
	if contentType != "" {
		req.Headers["Content-Type"] = contentType
	}
	return req
}

func form(token string) string { return url.Values{"token": {token}}.Encode() }

// revocations are the Credential Revoked records of partner's outbox.
func (fx *fixture) revocations(partnerID string) []*events.CredentialRevoked {
	fx.t.Helper()
	records, err := (&outbox.Store{DB: fx.db, Table: tables.Outbox}).Records(fx.t.Context(), partnerID)
	if err != nil {
		fx.t.Fatal(err)
	}
	var out []*events.CredentialRevoked
	for _, r := range records {
		d, err := r.Event()
		if err != nil {
			fx.t.Fatal(err)
		}
		if ev, ok := d.(*events.CredentialRevoked); ok {
			out = append(out, ev)
		}
	}
	return out
}

func (fx *fixture) status(k credential.Key) registry.Status {
	fx.t.Helper()
	e, err := (&registry.Store{DB: fx.db, Table: tables.Credentials}).Get(fx.t.Context(), k.ID())
	if err != nil {
		fx.t.Fatal(err)
	}
	return e.Status
}

func (fx *fixture) call(req lambdaevents.APIGatewayProxyRequest) lambdaevents.APIGatewayProxyResponse {
	fx.t.Helper()
	resp, err := fx.h.Handle(fx.t.Context(), req)
	fx.c.CheckError(err)
	if err != nil {
		fx.t.Fatalf("Handle returned an error: %v", err)
	}
	fx.c.CheckText("response", resp.Body)
	return resp
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// caller and token pick the request's key and the token it sends.
		caller  func(fx *fixture) (string, credential.Key)
		token   func(fx *fixture) string
		revoked func(fx *fixture) []credential.Key // the keys revoked afterwards
	}{
		{"the current key revokes itself",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.current.Plaintext().Reveal() },
			func(fx *fixture) []credential.Key { return []credential.Key{fx.current} }},
		{"the current key revokes the previous key",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.previous.Plaintext().Reveal() },
			func(fx *fixture) []credential.Key { return []credential.Key{fx.previous} }},
		{"the current key revokes the pending key",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.pending.Plaintext().Reveal() },
			func(fx *fixture) []credential.Key { return []credential.Key{fx.pending} }},
		{"the previous key revokes itself",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.previous },
			func(fx *fixture) string { return fx.previous.Plaintext().Reveal() },
			func(fx *fixture) []credential.Key { return []credential.Key{fx.previous} }},
		{"the previous key may not revoke the current key",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.previous },
			func(fx *fixture) string { return fx.current.Plaintext().Reveal() },
			func(*fixture) []credential.Key { return nil }},
		{"an unknown key",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.newKey().Plaintext().Reveal() },
			func(*fixture) []credential.Key { return nil }},
		{"another partner's key",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.other.Plaintext().Reveal() },
			func(*fixture) []credential.Key { return nil }},
		{"the partner's key id with another secret",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.forged(fx.previous) },
			func(*fixture) []credential.Key { return nil }},
		{"another partner's key id with another secret",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return fx.forged(fx.other) },
			func(*fixture) []credential.Key { return nil }},
		{"a key id alone",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(fx *fixture) string { return string(fx.previous.ID()) },
			func(*fixture) []credential.Key { return nil }},
		{"a token that is not a key",
			func(fx *fixture) (string, credential.Key) { return partnerA, fx.current },
			func(*fixture) string { return "not-a-key" },
			func(*fixture) []credential.Key { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			partner, caller := tc.caller(fx)
			token := tc.token(fx)
			want := tc.revoked(fx)
			before := snapshot(fx)
			// Twice: the second request finds the key revoked and changes nothing.
			for range 2 {
				resp := fx.call(request(partner, caller, "application/x-www-form-urlencoded", form(token)))
				if resp.StatusCode != http.StatusOK || resp.Body != "{}" || resp.Headers["Cache-Control"] != "no-store" {
					t.Fatalf("answer %d %v %q, want 200 {} no-store", resp.StatusCode, resp.Headers, resp.Body)
				}
				if tc.name == "the current key revokes itself" || tc.name == "the previous key revokes itself" {
					break // the key is revoked: it may call no more (TestRevokedCallerIsRefused)
				}
			}
			for id, e := range before {
				wantStatus := e.Status
				for _, k := range want {
					if k.ID() == id {
						wantStatus = registry.StatusRevoked
					}
				}
				got, err := (&registry.Store{DB: fx.db, Table: tables.Credentials}).Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != wantStatus {
					t.Errorf("key %s is %s, want %s", id, got.Status, wantStatus)
				}
				if wantStatus == registry.StatusRevoked && !got.RevokedAt.Equal(t0) {
					t.Errorf("key %s revoked at %s, want %s", id, got.RevokedAt, t0)
				}
			}
			revs := fx.revocations(partnerA)
			if others := fx.revocations(partnerB); len(others) != 0 {
				t.Errorf("partner B's outbox holds %d revocations", len(others))
			}
			if len(revs) != len(want) {
				t.Fatalf("%d Credential Revoked records, want %d", len(revs), len(want))
			}
			for i, ev := range revs {
				if !reflect.DeepEqual(ev.KeyIDs, []string{string(want[i].ID())}) || ev.PartnerID != partnerA ||
					ev.Actor != (events.Actor{Kind: events.ActorPartner, ID: partnerA}) || ev.Reason != events.RevocationRequested ||
					!strings.HasPrefix(ev.RevocationID, "rev-") || !ev.Time.Equal(t0) || ev.Note != "" {
					t.Errorf("event %+v", ev)
				}
				_, detail, err := events.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				env, _ := json.Marshal(events.Envelope{Version: "0", ID: "x", DetailType: events.TypeCredentialRevoked, Source: events.Source,
					Account: "123456789012", Time: t0, Region: "eu-west-1", Resources: []string{}, Detail: detail})
				if err := events.Validate(env); err != nil {
					t.Errorf("the event fails its schema: %v", err)
				}
			}
			if err := (&outbox.Store{DB: fx.db, Table: tables.Outbox}).VerifyPartner(t.Context(), partnerA); err != nil {
				t.Errorf("partner A's chain: %v", err)
			}
		})
	}
}

func snapshot(fx *fixture) map[credential.KeyID]registry.Entry {
	out := make(map[credential.KeyID]registry.Entry, len(fx.entries))
	for id, e := range fx.entries {
		out[id] = e
	}
	return out
}

// A key the registry no longer accepts (revoked a moment ago, its Allow still cached by the
// gateway) revokes nothing: access-denied, and nothing changes.
func TestRevokedCallerIsRefused(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	if resp := fx.call(request(partnerA, fx.current, revoke.FormContentType, form(fx.current.Plaintext().Reveal()))); resp.StatusCode != http.StatusOK {
		t.Fatalf("self-revocation answered %d", resp.StatusCode)
	}
	for _, token := range []credential.Key{fx.current, fx.previous, fx.pending} {
		resp := fx.call(request(partnerA, fx.current, revoke.FormContentType, form(token.Plaintext().Reveal())))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Body, problem.AccessDenied.URI()) {
			t.Errorf("a revoked caller revoking key %s: %d %s, want 403 access-denied", token.ID(), resp.StatusCode, resp.Body)
		}
	}
	if got := fx.status(fx.previous); got != registry.StatusPrevious {
		t.Errorf("the previous key is %s", got)
	}
	if got := fx.status(fx.pending); got != registry.StatusPending {
		t.Errorf("the pending key is %s", got)
	}
	if n := len(fx.revocations(partnerA)); n != 1 {
		t.Errorf("%d revocations, want 1", n)
	}
}

// A body that is not a form holding one non-empty token is refused with
// revocation-request-invalid, and nothing changes.
func TestMalformedRequestsAreRefused(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	key := fx.previous.Plaintext().Reveal()
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"a JSON body", "application/json", `{"token":"` + key + `"}`},
		{"no Content-Type", "", form(key)},
		{"a form without token", revoke.FormContentType, "token_type_hint=api_key"},
		{"an empty body", revoke.FormContentType, ""},
		{"an empty token", revoke.FormContentType, "token="},
		{"two tokens", revoke.FormContentType, form(key) + "&" + form(key)},
		{"two hints", revoke.FormContentType, form(key) + "&token_type_hint=a&token_type_hint=b"},
		{"a body that does not decode", revoke.FormContentType, "token=%zz" + key},
		{"a body too large", revoke.FormContentType, form(key) + "&pad=" + strings.Repeat("x", 5000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := fx.call(request(partnerA, fx.current, tc.contentType, tc.body))
			var p problem.Problem
			if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || p.Type != problem.RevocationRequestInvalid.URI() ||
				p.Detail != problem.RevocationRequestInvalid.DefaultDetail() {
				t.Errorf("answer %d %+v, want 400 revocation-request-invalid", resp.StatusCode, p)
			}
		})
	}
	if got := fx.status(fx.previous); got != registry.StatusPrevious {
		t.Errorf("the previous key is %s", got)
	}
	if n := len(fx.revocations(partnerA)); n != 0 {
		t.Errorf("%d revocations, want none", n)
	}
}

// A charset parameter and a hint are accepted; the hint does not narrow the search.
func TestFormWithCharsetAndHint(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	body := url.Values{"token": {fx.previous.Plaintext().Reveal()}, "token_type_hint": {"refresh_token"}}.Encode()
	if resp := fx.call(request(partnerA, fx.current, "application/x-www-form-urlencoded; charset=utf-8", body)); resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
	}
	if got := fx.status(fx.previous); got != registry.StatusRevoked {
		t.Errorf("the previous key is %s, want revoked", got)
	}
	var ids []string
	for _, ev := range fx.revocations(partnerA) {
		ids = append(ids, ev.KeyIDs...)
	}
	if !reflect.DeepEqual(ids, []string{string(fx.previous.ID())}) {
		t.Errorf("revoked %v", ids)
	}
}

// From the commit on, the authorizer refuses the revoked key on a cache miss: it reads the
// registry the revocation wrote and answers an explicit Deny, while the partner's other keys are
// still allowed.
func TestAuthorizerRefusesARevokedKey(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	a := &authorizer.Authorizer{
		Lookup: &registry.Store{DB: fx.db, Table: tables.Credentials},
		Routes: []authorizer.Route{{Method: http.MethodGet, Path: "/v1/partners/me"}, {Method: http.MethodPost, Path: revoke.Resource}},
		Now:    func() time.Time { return t0 },
	}
	effect := func(k credential.Key) string {
		t.Helper()
		resp, err := a.Authorize(t.Context(), lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type: "REQUEST", MethodArn: "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/v1/GET/v1/partners/me",
			Resource: "/v1/partners/me", Path: "/v1/partners/me", HTTPMethod: http.MethodGet,
			Headers: map[string]string{"Authorization": "Bearer " + k.Plaintext().Reveal()},
		})
		fx.c.CheckError(err)
		if err != nil {
			t.Fatalf("authorize key %s: %v", k.ID(), err)
		}
		return resp.PolicyDocument.Statement[0].Effect
	}
	if got := effect(fx.previous); got != "Allow" {
		t.Fatalf("before the revocation the previous key gets %s", got)
	}
	if resp := fx.call(request(partnerA, fx.current, revoke.FormContentType, form(fx.previous.Plaintext().Reveal()))); resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation answered %d", resp.StatusCode)
	}
	if got := effect(fx.previous); got != "Deny" {
		t.Errorf("the revoked key gets %s, want Deny", got)
	}
	if got := effect(fx.current); got != "Allow" {
		t.Errorf("the current key gets %s, want Allow", got)
	}
}

// A change that lands between the revocation's read and its commit cancels the transaction;
// the request reads again and revokes the key as it now is: a rotation that made the current key
// previous, revoked from previous; a revocation that came first, nothing more.
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		competing  func(fx *fixture, id credential.KeyID) types.TransactWriteItem
		wantEvents int
	}{
		{"a rotation supersedes the key", func(_ *fixture, id credential.KeyID) types.TransactWriteItem {
			return registry.Supersede(tables.Credentials, id, t0.Add(time.Hour))
		}, 1},
		{"another revocation comes first", func(fx *fixture, id credential.KeyID) types.TransactWriteItem {
			return itemtest.Must(registry.Revoke(tables.Credentials, id, registry.StatusActive, t0))(fx.t)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			target := fx.register(partnerA, registry.StatusActive)
			slipped := false
			fx.db.Intercept = func(op string, _ any) error {
				if op != "TransactWriteItems" || slipped {
					return nil
				}
				slipped = true
				_, err := fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
					TransactItems: []types.TransactWriteItem{tc.competing(fx, target.ID())},
				})
				return err
			}
			if resp := fx.call(request(partnerA, fx.current, revoke.FormContentType, form(target.Plaintext().Reveal()))); resp.StatusCode != http.StatusOK {
				t.Fatalf("answer %d %s", resp.StatusCode, resp.Body)
			}
			if got := fx.status(target); got != registry.StatusRevoked {
				t.Errorf("the key is %s, want revoked", got)
			}
			if n := len(fx.revocations(partnerA)); n != tc.wantEvents {
				t.Errorf("%d revocations recorded, want %d", n, tc.wantEvents)
			}
		})
	}
}

// A revocation of the caller's own key that commits between the caller's read and its
// transaction cancels the transaction: the caller, read again, is refused, and the key it
// named stays as it was.
func TestCallerRevokedMeanwhileRevokesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	target := fx.register(partnerA, registry.StatusPrevious)
	slipped := false
	fx.db.Intercept = func(op string, _ any) error {
		if op != "TransactWriteItems" || slipped {
			return nil
		}
		slipped = true
		_, err := fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{
			TransactItems: []types.TransactWriteItem{itemtest.Must(registry.Revoke(tables.Credentials, fx.current.ID(), registry.StatusActive, t0))(fx.t)},
		})
		return err
	}
	resp := fx.call(request(partnerA, fx.current, revoke.FormContentType, form(target.Plaintext().Reveal())))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("answer %d %s, want 403", resp.StatusCode, resp.Body)
	}
	if got := fx.status(target); got != registry.StatusPrevious {
		t.Errorf("the key the caller named is %s, want previous", got)
	}
	if n := len(fx.revocations(partnerA)); n != 0 {
		t.Errorf("%d revocations recorded, want 0", n)
	}
}
