//go:build integration

package suite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/topology"
)

// observerCreds sign as observerARN, a local principal the front admits on aws-iam routes but
// that is not a declared dependent.
var observerCreds = aws.Credentials{AccessKeyID: "LKIAOBSERVER00000001", SecretAccessKey: "observer-secret", Source: "test"}

const observerARN = "arn:aws:iam::" + suite.Account + ":user/lanyard-observer"

// introspectAs POSTs /v1/introspect with body, SigV4-signed by creds (unsigned when nil).
func introspectAs(t *testing.T, s *suite.Suite, creds *aws.Credentials, contentType, body string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.APIURL+"/v1/introspect", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if creds != nil {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(t.Context(), *creds, req, hex.EncodeToString(sum[:]), "execute-api", suite.Region, time.Now()); err != nil {
			t.Fatalf("sign: %v", err)
		}
	}
	return do(t, req)
}

// introspection is POST /v1/introspect's answer.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	TokenType string `json:"token_type"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
}

// A dependent introspects partner keys through `lanyard local`, with the production function:
// `lanyard local` declares its local credentials as the deployment's dependent. A live key is
// active with its scopes, partner, token type and times; an unknown key, malformed ones (a
// wrong checksum, not a key, the key id alone, a forged secret under a live key id) and a key
// once revoked are answered exactly {"active":false}; a body that is no form is refused. A
// signer the front admits on aws-iam routes but that is not a declared dependent is refused
// with the gateway's access-denied, and an unsigned request with its missing token, before
// the function. No answer, log, trace or error holds a key.
func TestIntrospectionThroughLocal(t *testing.T) {
	canary := secrettest.Plant(t)
	s, _ := shared(t, "lanyard", topology.Lanyard, canary)
	logsOnFailure(t, s)
	api := partnerAPI{t: t, s: s, canary: canary}
	a := api.onboardNew("Introspected Freight "+harness.Name("t"), "standard", "orders:read")
	b := api.onboardNew("Bystander Freight "+harness.Name("t"), "standard", "orders:read")
	dependent := localCreds
	const form = "application/x-www-form-urlencoded"
	ask := func(token string) reply {
		t.Helper()
		r := introspectAs(t, s, &dependent, form, url.Values{"token": {token}}.Encode())
		canary.CheckText("introspection answer", string(r.body))
		return r
	}
	wantInactive := func(what, token string) {
		t.Helper()
		if r := ask(token); r.status != http.StatusOK || string(r.body) != `{"active":false}` || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s, want 200 {\"active\":false}", what, r.status, api.redacted(r.body))
		}
	}

	// A live key.
	before := time.Now()
	r := ask(a.APIKey)
	if r.status != http.StatusOK {
		t.Fatalf("introspect a live key: %d %s", r.status, api.redacted(r.body))
	}
	var got introspection
	decodeStrict(t, r.body, &got)
	if !got.Active || got.Scope != "orders:read" || got.ClientID != a.PartnerID || got.TokenType != "Bearer" ||
		got.Exp <= before.Unix() || got.Iat > time.Now().Unix() || got.Iat < before.Add(-10*time.Minute).Unix() {
		t.Errorf("a live key: %+v, want active, scope orders:read, client_id %s, token_type Bearer, exp ahead, iat at its issue", got, a.PartnerID)
	}

	// Unknown and malformed keys.
	unknown, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		t.Fatal(err)
	}
	canary.Add("unknown key", unknown.Plaintext().Reveal())
	key, err := credential.Parse(a.APIKey)
	if err != nil {
		t.Fatalf("the onboarded key does not parse: %v", err)
	}
	forged := sameIDKey(t, key)
	canary.Add("forged key", forged)
	wrongChecksum := a.APIKey[:len(a.APIKey)-1] + map[bool]string{true: "A", false: "B"}[!strings.HasSuffix(a.APIKey, "A")]
	canary.Add("key with a wrong checksum", wrongChecksum)
	wantInactive("an unknown key", unknown.Plaintext().Reveal())
	wantInactive("a key with a wrong checksum", wrongChecksum)
	wantInactive("not a key", "hello")
	wantInactive("the key id alone", string(key.ID()))
	wantInactive("a forged secret under a live key id", forged)
	canary.CheckText("malformed request refusal", wantFunctionProblem(t,
		introspectAs(t, s, &dependent, "application/json", `{"token":"`+a.APIKey+`"}`), http.StatusBadRequest, "introspection-request-invalid").Detail)

	// Not a dependent: refused by the front, as the resource policy refuses in AWS.
	observer := observerCreds
	denied := introspectAs(t, s, &observer, form, url.Values{"token": {a.APIKey}}.Encode())
	denied.wantProblem(t, "ACCESS_DENIED", http.StatusForbidden)
	canary.CheckText("refusal of a signer that is no dependent", string(denied.body))
	if p := denied.problem(t); !strings.Contains(p.Detail, observerARN) || !strings.Contains(p.Detail, "explicit deny") {
		t.Errorf("refusal of a signer that is no dependent: detail %q", p.Detail)
	}
	introspectAs(t, s, nil, form, url.Values{"token": {a.APIKey}}.Encode()).wantProblem(t, "MISSING_AUTHENTICATION_TOKEN", http.StatusForbidden)
	// The observer's signature is good: an admin route lets it through to its function, which
	// refuses the empty invite.
	if r := sendSigned(t, s, "/v1/admin/invites", "{}", observerCreds, time.Now()); r.status != http.StatusBadRequest {
		t.Errorf("the observer on an admin route: %d %s, want the function's 400", r.status, r.body)
	}

	// Revoked: inactive from the revocation's answer on; another partner's key stays active.
	if r := revokeWith(t, s, a.APIKey, form, revokeForm(a.APIKey)); r.status != http.StatusOK {
		t.Fatalf("revoke the key: %d %s", r.status, api.redacted(r.body))
	}
	wantInactive("a revoked key", a.APIKey)
	var other introspection
	if r := ask(b.APIKey); r.status != http.StatusOK {
		t.Errorf("introspect the bystander's key: %d", r.status)
	} else if decodeStrict(t, r.body, &other); !other.Active || other.ClientID != b.PartnerID {
		t.Errorf("the bystander's key: %+v", other)
	}

	checkCanaries(t, s, canary)
}
