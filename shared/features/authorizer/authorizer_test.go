package authorizer_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/features/usage"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// Every outcome: what Authorize answers, how many registry reads it took, and its log line.
func TestAuthorizeOutcomes(t *testing.T) {
	t.Parallel()
	boom := errors.New("ProvisionedThroughputExceededException: slow down")
	type want struct {
		unauthorized bool   // the error "Unauthorized" (401)
		failure      error  // another error (500) wrapping this
		effect       string // Allow or Deny (200 from the authorizer; 403 for Deny)
		outcome      string
		reason       string
		lookups      int
	}
	for _, tc := range []struct {
		name string
		// setup registers entries for k and returns the request's headers.
		setup func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest
		want  want
	}{
		{"no Authorization header", func(_ *fixture, _ credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			return request(map[string]string{"Accept": "application/json"})
		}, want{unauthorized: true, outcome: "unauthorized", reason: "no-credentials"}},
		{"empty Authorization header", func(_ *fixture, _ credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			return request(map[string]string{"Authorization": "  "})
		}, want{unauthorized: true, outcome: "unauthorized", reason: "no-credentials"}},
		{"Basic scheme", func(_ *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			return request(map[string]string{"Authorization": "Basic " + k.Plaintext().Reveal()})
		}, want{unauthorized: true, outcome: "unauthorized", reason: "unsupported-scheme"}},
		{"truncated key", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k))
			return request(map[string]string{"Authorization": "Bearer " + k.Plaintext().Reveal()[:69]})
		}, want{unauthorized: true, outcome: "unauthorized", reason: "malformed-key"}},
		{"checksum mismatch", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k))
			return request(map[string]string{"Authorization": "Bearer " + corrupt(k.Plaintext().Reveal())})
		}, want{unauthorized: true, outcome: "unauthorized", reason: "checksum-mismatch"}},
		{"two Authorization values", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k))
			r := request(bearer(k))
			r.MultiValueHeaders = map[string][]string{"authorization": {"Bearer " + k.Plaintext().Reveal()}, "Authorization": {"Bearer x"}}
			return r
		}, want{unauthorized: true, outcome: "unauthorized", reason: "duplicate-header"}},
		{"a key of another environment", func(f *fixture, _ credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			live := generate(t, credential.EnvLive)
			f.lookup.put(entryFor(live))
			return request(bearer(live))
		}, want{unauthorized: true, outcome: "unauthorized", reason: "wrong-environment"}},
		{"unknown key id", func(_ *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			return request(bearer(k))
		}, want{unauthorized: true, outcome: "unauthorized", reason: "unknown-key", lookups: 1}},
		{"wrong secret", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k))
			return request(map[string]string{"Authorization": "Bearer " + forge(t, k)})
		}, want{unauthorized: true, outcome: "unauthorized", reason: "verifier-mismatch", lookups: 1}},
		{"registry unavailable", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.err = boom
			return request(bearer(k))
		}, want{failure: boom, outcome: "error", reason: "lookup-failed", lookups: 1}},
		{"not an execute-api method ARN", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k))
			r := request(bearer(k))
			r.MethodArn = "arn:aws:lambda:eu-west-1:123456789012:function:x"
			return r
		}, want{failure: errors.New("not an execute-api ARN"), outcome: "error", reason: "bad-method-arn"}},
		{"active", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k, "orders:read"))
			return request(bearer(k))
		}, want{effect: "Allow", outcome: "allow", reason: registry.ReasonActive, lookups: 1}},
		{"active, header name in lower case, multi-value headers", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.lookup.put(entryFor(k))
			r := request(nil)
			r.MultiValueHeaders = map[string][]string{"authorization": {"bearer " + k.Plaintext().Reveal()}}
			return r
		}, want{effect: "Allow", outcome: "allow", reason: registry.ReasonActive, lookups: 1}},
		{"previous within grace", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			e := entryFor(k)
			e.Status, e.GraceUntil = registry.StatusPrevious, epoch.Add(time.Hour)
			f.lookup.put(e)
			return request(bearer(k))
		}, want{effect: "Allow", outcome: "allow", reason: registry.ReasonGrace, lookups: 1}},
		{"previous past grace", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			e := entryFor(k)
			e.Status, e.GraceUntil = registry.StatusPrevious, epoch
			f.lookup.put(e)
			return request(bearer(k))
		}, want{effect: "Deny", outcome: "deny", reason: registry.ReasonGraceEnded, lookups: 1}},
		{"revoked", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			e := entryFor(k)
			e.Status = registry.StatusRevoked
			f.lookup.put(e)
			return request(bearer(k))
		}, want{effect: "Deny", outcome: "deny", reason: registry.ReasonRevoked, lookups: 1}},
		{"pending", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			e := entryFor(k)
			e.Status = registry.StatusPending
			f.lookup.put(e)
			return request(bearer(k))
		}, want{effect: "Deny", outcome: "deny", reason: registry.ReasonPending, lookups: 1}},
		{"not yet valid", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			e := entryFor(k)
			e.NotBefore = epoch.Add(time.Second)
			f.lookup.put(e)
			return request(bearer(k))
		}, want{effect: "Deny", outcome: "deny", reason: registry.ReasonNotYetValid, lookups: 1}},
		{"expired", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			e := entryFor(k)
			e.NotAfter = epoch
			f.lookup.put(e)
			return request(bearer(k))
		}, want{effect: "Deny", outcome: "deny", reason: registry.ReasonExpired, lookups: 1}},
		{"valid but its scopes permit no route", func(f *fixture, k credential.Key) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
			f.a.Routes = topology.PartnerKeyRoutes(slices.DeleteFunc(slices.Clone(testRoutes), func(r topology.Route) bool { return r.Scope == "" }))
			f.lookup.put(entryFor(k, "audit:read"))
			return request(bearer(k))
		}, want{effect: "Deny", outcome: "deny", reason: "no-permitted-routes", lookups: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(testRoutes)
			k := generate(t, credential.EnvLocal)
			req := tc.setup(f, k)
			resp, err := f.a.Authorize(t.Context(), req)

			switch {
			case tc.want.unauthorized:
				if !isUnauthorized(err) {
					t.Errorf("error %v, want exactly Unauthorized", err)
				}
			case tc.want.failure != nil:
				if err == nil || errors.Is(err, authorizer.ErrUnauthorized) || err.Error() == "Unauthorized" {
					t.Errorf("error %v, want a failure other than Unauthorized", err)
				} else if !errors.Is(err, tc.want.failure) && !strings.Contains(err.Error(), tc.want.failure.Error()) {
					t.Errorf("error %v does not carry %v", err, tc.want.failure)
				}
			default:
				if err != nil {
					t.Fatalf("error %v, want a policy", err)
				}
			}
			if tc.want.effect == "" {
				if !reflect.DeepEqual(resp, lambdaevents.APIGatewayCustomAuthorizerResponse{}) {
					t.Errorf("a refusal by error answered a policy too: %+v", resp)
				}
			} else {
				checkPolicy(t, resp, tc.want.effect)
			}
			if n := f.lookup.count(); n != tc.want.lookups {
				t.Errorf("%d registry reads, want %d", n, tc.want.lookups)
			}

			lines := f.logs.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want one per decision", len(lines))
			}
			l := lines[0]
			if l["outcome"] != tc.want.outcome || l["reason"] != tc.want.reason {
				t.Errorf("logged outcome %v reason %v, want %s %s", l["outcome"], l["reason"], tc.want.outcome, tc.want.reason)
			}
			if tc.want.lookups > 0 && l["keyId"] != string(k.ID()) {
				t.Errorf("logged keyId %v, want %s", l["keyId"], k.ID())
			}
			if tc.want.effect != "" && l["partner"] != partnerID {
				t.Errorf("logged partner %v, want %s", l["partner"], partnerID)
			}
		})
	}
}

// checkPolicy checks the shape every answered policy has.
func checkPolicy(t *testing.T, resp lambdaevents.APIGatewayCustomAuthorizerResponse, effect string) {
	t.Helper()
	if resp.PrincipalID != partnerID {
		t.Errorf("principalId %q, want the partner %s", resp.PrincipalID, partnerID)
	}
	doc := resp.PolicyDocument
	if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
		t.Fatalf("policy version %q with %d statements, want 2012-10-17 with one", doc.Version, len(doc.Statement))
	}
	s := doc.Statement[0]
	if s.Effect != effect || !slices.Equal(s.Action, []string{"execute-api:Invoke"}) || len(s.Resource) == 0 {
		t.Errorf("statement %+v, want %s execute-api:Invoke on some resources", s, effect)
	}
	if effect == "Deny" {
		if !slices.Equal(s.Resource, []string{stageARN + "/*"}) {
			t.Errorf("deny resources %v, want the whole stage", s.Resource)
		}
		if got := evaluate(doc, methodARN("GET", "/v1/partners/me")); got != "deny" {
			t.Errorf("the deny policy evaluates to %s on the called method", got)
		}
	}
	// An Allow names the partner's usage identifier, so API Gateway throttles by its plan; a
	// Deny names none.
	wantUsage := ""
	if effect == "Allow" {
		wantUsage = usage.KeyValue(partnerID)
	}
	if got := resp.UsageIdentifierKey; got != wantUsage {
		t.Errorf("%s: usageIdentifierKey %q, want %q", effect, got, wantUsage)
	}
	for k, v := range resp.Context {
		if _, ok := v.(string); !ok {
			t.Errorf("context %s is a %T, want a string", k, v)
		}
	}
}

// An Allow's context carries the partner, the key id, the tier and the scopes, all strings,
// and encodes as API Gateway expects.
func TestAllowContext(t *testing.T) {
	t.Parallel()
	f := newFixture(testRoutes)
	k := generate(t, credential.EnvLocal)
	f.lookup.put(entryFor(k, "shipments:read", "orders:read", "orders:read"))
	resp, err := f.a.Authorize(t.Context(), request(bearer(k)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"partnerId": partnerID,
		"keyId":     string(k.ID()),
		"tier":      "standard",
		"scopes":    "orders:read shipments:read",
	}
	if !reflect.DeepEqual(resp.Context, want) {
		t.Errorf("context %v, want %v", resp.Context, want)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Version   string
			Statement []struct {
				Action   []string
				Effect   string
				Resource []string
			}
		} `json:"policyDocument"`
		Context            map[string]string `json:"context"`
		UsageIdentifierKey *string           `json:"usageIdentifierKey"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatalf("the response does not decode as API Gateway's shape: %v", err)
	}
	if decoded.UsageIdentifierKey == nil || *decoded.UsageIdentifierKey != "lanyard-usage-"+partnerID {
		t.Errorf("usageIdentifierKey %v, want the partner's usage identifier", decoded.UsageIdentifierKey)
	}
	if decoded.PolicyDocument.Statement[0].Effect != "Allow" || !reflect.DeepEqual(decoded.Context, map[string]string{
		"partnerId": partnerID, "keyId": string(k.ID()), "tier": "standard", "scopes": "orders:read shipments:read",
	}) {
		t.Errorf("encoded response %s", b)
	}
}

// The policy lists exactly the partner-key routes the scopes permit (scope-less ones always),
// and, evaluated as IAM evaluates it, admits the method ARN of each of them and no other route.
func TestPolicyCoversExactlyThePermittedRoutes(t *testing.T) {
	t.Parallel()
	me := stageARN + "/GET/v1/partners/me"
	orderRead := stageARN + "/GET/v1/orders/*"
	orderWrite := stageARN + "/POST/v1/orders"
	shipments := stageARN + "/GET/v1/shipments/*/events/*"
	for _, tc := range []struct {
		name   string
		scopes []string
		want   []string
	}{
		{"no scopes", nil, []string{me}},
		{"a scope no route needs", []string{"audit:read"}, []string{me}},
		{"orders:read", []string{"orders:read"}, []string{me, orderRead}},
		{"orders:write", []string{"orders:write"}, []string{me, orderWrite}},
		{"every scope", []string{"shipments:read", "orders:write", "orders:read"}, []string{me, orderRead, orderWrite, shipments}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(testRoutes)
			k := generate(t, credential.EnvLocal)
			f.lookup.put(entryFor(k, tc.scopes...))
			resp, err := f.a.Authorize(t.Context(), request(bearer(k)))
			if err != nil {
				t.Fatal(err)
			}
			checkPolicy(t, resp, "Allow")
			if got := resp.PolicyDocument.Statement[0].Resource; !slices.Equal(got, tc.want) {
				t.Errorf("resources\n%v\nwant\n%v", got, tc.want)
			}
			for _, r := range testRoutes {
				permitted := r.Auth == topology.AuthPartnerKey && (r.Scope == "" || slices.Contains(tc.scopes, r.Scope))
				arn := methodARN(r.Method, concretePath(r.Path))
				got := evaluate(resp.PolicyDocument, arn)
				if permitted && got != "allow" {
					t.Errorf("%s %s is permitted but the policy's verdict on %s is %s", r.Method, r.Path, arn, got)
				}
				if !permitted && got != "implicit-deny" {
					t.Errorf("%s %s is not permitted but the policy's verdict on %s is %s", r.Method, r.Path, arn, got)
				}
				// The same route on another stage or API is never admitted.
				other := strings.Replace(arn, "abcdef1234/v1/", "abcdef1234/v2/", 1)
				if got := evaluate(resp.PolicyDocument, other); got != "implicit-deny" {
					t.Errorf("the policy admits %s on another stage", r.Path)
				}
			}
		})
	}
}

// The production topology: GET /v1/partners/me needs no scope, so any valid key may call it.
func TestPolicyForTheLanyardTopology(t *testing.T) {
	t.Parallel()
	f := newFixture(topology.Lanyard().Routes)
	k := generate(t, credential.EnvLocal)
	f.lookup.put(entryFor(k))
	resp, err := f.a.Authorize(t.Context(), request(bearer(k)))
	if err != nil {
		t.Fatal(err)
	}
	if got := evaluate(resp.PolicyDocument, methodARN("GET", "/v1/partners/me")); got != "allow" {
		t.Errorf("GET /v1/partners/me: %s", got)
	}
	for _, r := range topology.Lanyard().Routes {
		permitted := r.Auth == topology.AuthPartnerKey && r.Scope == ""
		if got := evaluate(resp.PolicyDocument, methodARN(r.Method, concretePath(r.Path))); (got == "allow") != permitted {
			t.Errorf("%s %s: verdict %s, permitted %t", r.Method, r.Path, got, permitted)
		}
	}
}

// A key found is cached for KeyCacheTTL; an unknown key id, a failed read and every refusal
// before the registry are not.
func TestKeyCache(t *testing.T) {
	t.Parallel()
	t.Run("hit within the TTL, miss after", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		k := generate(t, credential.EnvLocal)
		f.lookup.put(entryFor(k))
		for _, step := range []struct {
			advance time.Duration
			lookups int
		}{
			{0, 1},
			{29*time.Second + 999*time.Millisecond, 1},
			{time.Millisecond, 2}, // 30 s after the first read
			{10 * time.Second, 2},
			{20 * time.Second, 3},
		} {
			f.clock.advance(step.advance)
			if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
				t.Fatal(err)
			}
			if n := f.lookup.count(); n != step.lookups {
				t.Fatalf("at %v: %d registry reads, want %d", f.clock.Now().Sub(epoch), n, step.lookups)
			}
		}
		lines := f.logs.lines(t)
		if lines[0]["cached"] != false || lines[1]["cached"] != true {
			t.Errorf("logged cached %v then %v, want false then true", lines[0]["cached"], lines[1]["cached"])
		}
	})
	t.Run("a previous key is read every time", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		k := generate(t, credential.EnvLocal)
		e := entryFor(k)
		e.Status, e.GraceUntil = registry.StatusPrevious, epoch.Add(time.Hour)
		f.lookup.put(e)
		for i := 1; i <= 2; i++ {
			if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
				t.Fatal(err)
			}
			if n := f.lookup.count(); n != i {
				t.Fatalf("decision %d: %d registry reads, want %d: its acknowledgement and retirement must not wait for a cache", i, n, i)
			}
		}
	})
	t.Run("a revocation is seen once the cached entry expires", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		k := generate(t, credential.EnvLocal)
		e := entryFor(k)
		f.lookup.put(e)
		if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
			t.Fatal(err)
		}
		e.Status = registry.StatusRevoked
		f.lookup.put(e)
		f.clock.advance(30 * time.Second)
		resp, err := f.a.Authorize(t.Context(), request(bearer(k)))
		if err != nil || resp.PolicyDocument.Statement[0].Effect != "Deny" {
			t.Fatalf("after the TTL: %v %+v, want a Deny", err, resp.PolicyDocument)
		}
	})
	t.Run("with the production policy, a revocation is seen at the very next decision", func(t *testing.T) {
		t.Parallel()
		p, err := policy.Parse(policyfile.JSON())
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(testRoutes)
		f.a.KeyCacheTTL = p.Authorizer.KeyCacheTTL.Std()
		k := generate(t, credential.EnvLocal)
		e := entryFor(k)
		f.lookup.put(e)
		if resp, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" {
			t.Fatalf("before the revocation: %v %+v, want an Allow", err, resp.PolicyDocument)
		}
		e.Status, e.RevokedAt = registry.StatusRevoked, epoch
		f.lookup.put(e)
		f.clock.advance(time.Millisecond)
		resp, err := f.a.Authorize(t.Context(), request(bearer(k)))
		if err != nil || resp.PolicyDocument.Statement[0].Effect != "Deny" {
			t.Fatalf("a millisecond after the revocation, keyCacheTtl %s: %v %+v, want a Deny", p.Authorizer.KeyCacheTTL, err, resp.PolicyDocument)
		}
	})
	t.Run("an unknown key id is asked every time", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		k := generate(t, credential.EnvLocal)
		for i := 1; i <= 3; i++ {
			if _, err := f.a.Authorize(t.Context(), request(bearer(k))); !isUnauthorized(err) {
				t.Fatalf("unknown key: %v", err)
			}
			if n := f.lookup.count(); n != i {
				t.Fatalf("%d registry reads after %d requests, want %d", n, i, i)
			}
		}
		// Registered now: accepted on the next request, not 30 s later.
		f.lookup.put(entryFor(k))
		if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
			t.Fatalf("a key registered after a miss: %v", err)
		}
	})
	t.Run("a failed read is not cached", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		k := generate(t, credential.EnvLocal)
		f.lookup.put(entryFor(k))
		f.lookup.err = errors.New("throttled")
		if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err == nil {
			t.Fatal("a failed read answered")
		}
		f.lookup.mu.Lock()
		f.lookup.err = nil
		f.lookup.mu.Unlock()
		if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
			t.Fatalf("after the registry recovered: %v", err)
		}
		if n := f.lookup.count(); n != 2 {
			t.Errorf("%d registry reads, want 2", n)
		}
	})
	t.Run("a wrong secret for a cached key id is refused from the cache", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		k := generate(t, credential.EnvLocal)
		f.lookup.put(entryFor(k))
		if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
			t.Fatal(err)
		}
		forged := forge(t, k)
		_, err := f.a.Authorize(t.Context(), request(map[string]string{"Authorization": "Bearer " + forged}))
		if !isUnauthorized(err) {
			t.Fatalf("a well-formed key with a cached id and another secret: %v", err)
		}
		if n := f.lookup.count(); n != 1 {
			t.Errorf("%d registry reads, want 1", n)
		}
		if l := f.logs.lines(t)[1]; l["reason"] != "verifier-mismatch" || l["cached"] != true {
			t.Errorf("logged %v", l)
		}
	})
	t.Run("TTL 0 reads every time", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		f.a.KeyCacheTTL = 0
		k := generate(t, credential.EnvLocal)
		f.lookup.put(entryFor(k))
		for range 3 {
			if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.lookup.count(); n != 3 {
			t.Errorf("%d registry reads, want 3", n)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		t.Parallel()
		f := newFixture(testRoutes)
		f.a.CacheSize = 4
		keys := make([]credential.Key, 10)
		for i := range keys {
			keys[i] = generate(t, credential.EnvLocal)
			f.lookup.put(entryFor(keys[i]))
			if _, err := f.a.Authorize(t.Context(), request(bearer(keys[i]))); err != nil {
				t.Fatal(err)
			}
		}
		if n := authorizer.CacheLen(f.a); n > 4 {
			t.Errorf("the cache holds %d entries, want at most 4", n)
		}
		// Every key is still accepted: an evicted one costs a read, not a refusal.
		for _, k := range keys {
			if _, err := f.a.Authorize(t.Context(), request(bearer(k))); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// Concurrent decisions on one authorizer (run with -race): every answer right, the cache shared.
func TestConcurrentDecisions(t *testing.T) {
	t.Parallel()
	f := newFixture(testRoutes)
	f.a.CacheSize = 8
	keys := make([]credential.Key, 16)
	for i := range keys {
		keys[i] = generate(t, credential.EnvLocal)
		f.lookup.put(entryFor(keys[i], "orders:read"))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := keys[(g+i)%len(keys)]
				resp, err := f.a.Authorize(t.Context(), request(bearer(k)))
				if err != nil || resp.Context["keyId"] != string(k.ID()) || len(resp.PolicyDocument.Statement[0].Resource) != 2 {
					t.Errorf("key %s: %v %v", k.ID(), err, resp.Context)
					return
				}
			}
		})
	}
	wg.Wait()
}
