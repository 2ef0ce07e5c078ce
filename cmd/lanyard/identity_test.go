package main

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/fakes/stsprooftest"
	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// identityEnv is awsEnv with no endpoint variables.
func identityEnv(t *testing.T) {
	t.Helper()
	awsEnv(t)
	t.Setenv(stsproof.EndpointSTSEnv, "")
	t.Setenv(stsproof.EndpointEnv, "")
}

// wantIdentityRequest is the output for the fake STS, with the date, the signature and the
// port normalised.
const wantIdentityRequest = `{
  "method": "POST",
  "url": "http://127.0.0.1:PORT/",
  "headers": {
    "Authorization": [
      "AWS4-HMAC-SHA256 Credential=test/DATE/us-east-1/sts/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-lanyard-request-sha256;x-lanyard-server-id, Signature=SIGNATURE"
    ],
    "Content-Type": [
      "application/x-www-form-urlencoded; charset=utf-8"
    ],
    "Host": [
      "127.0.0.1:PORT"
    ],
    "X-Amz-Date": [
      "DATETIME"
    ],
    "X-Lanyard-Request-SHA256": [
      "3ebef838f6d184a91b079f446c9b2dd3986e5a6fcfe904f77c72a96ecb6e5f9d"
    ],
    "X-Lanyard-Server-ID": [
      "lanyard-cli-test"
    ]
  },
  "body": "Action=GetCallerIdentity&Version=2011-06-15"
}
`

var (
	datetimeRE  = regexp.MustCompile(`\b\d{8}T\d{6}Z\b`)
	dateRE      = regexp.MustCompile(`/\d{8}/`)
	signatureRE = regexp.MustCompile(`Signature=[0-9a-f]{64}`)
	portRE      = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

func normaliseIdentityRequest(s string) string {
	s = datetimeRE.ReplaceAllString(s, "DATETIME")
	s = dateRE.ReplaceAllString(s, "/DATE/")
	s = signatureRE.ReplaceAllString(s, "Signature=SIGNATURE")
	return portRE.ReplaceAllString(s, "127.0.0.1:PORT")
}

// forAcme are the flags naming the onboarding request the tests sign for, and acmeDigest its
// digest: sha256("POST /v1/partners\nscopes=inventory:read,orders:read\npartnerName=Acme Logistics").
var forAcme = []string{"--partner-name", "Acme Logistics", "--scope", "orders:read", "--scope", "inventory:read"}

const acmeDigest = "3ebef838f6d184a91b079f446c9b2dd3986e5a6fcfe904f77c72a96ecb6e5f9d"

// The printed request parses back into a Request that Verify accepts for the onboarding
// request it names, STS (the fake, which checks signatures) answering for the local
// credentials; stderr says which deployment and request it was signed for.
func TestIdentityRequest(t *testing.T) {
	identityEnv(t)
	fake := stsprooftest.New(t)
	const server = "lanyard-cli-test"

	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		token bool
	}{
		{name: "--sts-endpoint", args: []string{"--sts-endpoint", fake.URL.String()}},
		{name: "AWS_ENDPOINT_URL_STS", env: map[string]string{stsproof.EndpointSTSEnv: fake.URL.String(), stsproof.EndpointEnv: "http://127.0.0.1:1"}},
		{name: "AWS_ENDPOINT_URL", env: map[string]string{stsproof.EndpointEnv: fake.URL.String()}},
		{name: "--output table still prints JSON", args: []string{"--sts-endpoint", fake.URL.String(), "-o", "table"}},
		{name: "session token", args: []string{"--sts-endpoint", fake.URL.String()}, env: map[string]string{"AWS_SESSION_TOKEN": "session"}, token: true},
		{name: "scopes with commas", args: []string{"--sts-endpoint", fake.URL.String(), "--scope", "orders:read,inventory:read"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			flags := forAcme
			if tc.name == "scopes with commas" {
				flags = forAcme[:2]
			}
			code, stdout, stderr := runCLI(append(append([]string{"identity-request", "--server-id", server}, flags...), tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, want := range []string{`deployment "lanyard-cli-test"`, `partnerName "Acme Logistics"`, "scopes inventory:read,orders:read", acmeDigest, "valid until "} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
			if !tc.token {
				if got := normaliseIdentityRequest(stdout); got != wantIdentityRequest {
					t.Errorf("output (normalised):\n%s\nwant:\n%s", got, wantIdentityRequest)
				}
			}
			var r stsproof.Request
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("output is not a Request: %v", err)
			}
			if got := len(r.Headers["X-Amz-Security-Token"]); got != map[bool]int{true: 1}[tc.token] {
				t.Errorf("%d session token headers", got)
			}
			v := &stsproof.Verifier{ServerID: server, Endpoint: fake.URL}
			id, err := v.Verify(t.Context(), r, onboarding.RequestDigest("Acme Logistics", []string{"inventory:read", "orders:read"}))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != stsprooftest.LocalIdentity {
				t.Errorf("identity = %+v", id)
			}
			// Not for another onboarding request.
			if _, err := v.Verify(t.Context(), r, onboarding.RequestDigest("Mallory", []string{"inventory:read", "orders:read"})); !errors.Is(err, stsproof.ErrInvalid) {
				t.Errorf("Verify for another partner name = %v, want ErrInvalid", err)
			}
		})
	}
}

// --body prints the whole onboarding request body, which the API's schema accepts and whose
// digest is the signed one.
func TestIdentityRequestBody(t *testing.T) {
	identityEnv(t)
	fake := stsprooftest.New(t)
	code, stdout, stderr := runCLI(append([]string{"identity-request", "--server-id", "s", "--sts-endpoint", fake.URL.String(), "--body"}, forAcme...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if err := api.ValidateBody(api.OpCreatePartner, []byte(stdout)); err != nil {
		t.Fatalf("the body does not pass the schema: %v", err)
	}
	var b struct {
		PartnerName     string           `json:"partnerName"`
		Scopes          []string         `json:"scopes"`
		IdentityRequest stsproof.Request `json:"identityRequest"`
	}
	if err := json.Unmarshal([]byte(stdout), &b); err != nil {
		t.Fatal(err)
	}
	if b.PartnerName != "Acme Logistics" || strings.Join(b.Scopes, ",") != "inventory:read,orders:read" || b.IdentityRequest.Headers[stsproof.RequestDigestHeader][0] != acmeDigest {
		t.Errorf("body %s", stdout)
	}
	if _, err := (&stsproof.Verifier{ServerID: "s", Endpoint: fake.URL}).Verify(t.Context(), b.IdentityRequest, acmeDigest); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// Without an endpoint anywhere, the request is signed for the region's STS endpoint.
func TestIdentityRequestRegionalEndpoint(t *testing.T) {
	identityEnv(t)
	code, stdout, stderr := runCLI(append([]string{"identity-request", "--server-id", "srv", "--region", "eu-west-1"}, forAcme...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var r stsproof.Request
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("output is not a Request: %v", err)
	}
	if r.URL != "https://sts.eu-west-1.amazonaws.com/" || r.Headers["Host"][0] != "sts.eu-west-1.amazonaws.com" {
		t.Errorf("signed for %s (Host %v)", r.URL, r.Headers["Host"])
	}
	if a := r.Headers["Authorization"][0]; !strings.Contains(a, "/eu-west-1/sts/aws4_request") {
		t.Errorf("Authorization %q is not scoped to eu-west-1", a)
	}
}

func TestIdentityRequestRefuses(t *testing.T) {
	identityEnv(t)
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{name: "no server id", args: []string{"--sts-endpoint", "http://127.0.0.1:4566"}, code: 2, stderr: "--server-id is required"},
		{name: "no partner name", args: []string{"--server-id", "s", "--scope", "orders:read"}, code: 2, stderr: "--partner-name is required"},
		{name: "no scope", args: []string{"--server-id", "s", "--partner-name", "Acme"}, code: 2, stderr: "--scope is required"},
		{name: "role ARN not a role", args: append([]string{"--server-id", "s", "--role-arn", "arn:aws:iam::111122223333:user/bob"}, forAcme...), code: 2, stderr: "--role-arn must be an IAM role ARN"},
		{name: "blank server id", args: []string{"--server-id", " "}, code: 2, stderr: "--server-id is required"},
		{name: "endpoint with a path", args: append([]string{"--server-id", "s", "--sts-endpoint", "http://127.0.0.1:4566/sts"}, forAcme...), code: 2, stderr: "--sts-endpoint: the STS endpoint must have no user, path, query or fragment"},
		{name: "endpoint not a URL", args: append([]string{"--server-id", "s", "--sts-endpoint", "sts.amazonaws.com"}, forAcme...), code: 2, stderr: "--sts-endpoint: the STS endpoint must be an absolute http(s) URL"},
		{name: "an argument", args: []string{"--server-id", "s", "extra"}, code: 2, stderr: "unknown command"},
		{name: "server id with a newline", args: append([]string{"--server-id", "a\nb", "--sts-endpoint", "http://127.0.0.1:4566"}, forAcme...), code: 1, stderr: "the server id must be"},
		{name: "no region", args: append([]string{"--server-id", "s"}, forAcme...), env: map[string]string{"AWS_REGION": ""}, code: 1, stderr: "no AWS region"},
		{name: "no credentials", args: append([]string{"--server-id", "s", "--sts-endpoint", "http://127.0.0.1:4566"}, forAcme...), env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, code: 1, stderr: "credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(append([]string{"identity-request"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// The help tells a partner how to do the same with an SDK, and for how long it is good.
func TestIdentityRequestHelp(t *testing.T) {
	code, stdout, _ := runCLI("identity-request", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"identityRequest", "15 minutes", "Action=GetCallerIdentity&Version=2011-06-15", "X-Lanyard-Server-ID",
		"BEFORE signing", `SigV4Auth(creds, "sts", region)`, "--server-id", "--sts-endpoint", "--region",
		"X-Lanyard-Request-SHA256", `POST /v1/partners\nscopes=inventory:read,orders:read\npartnerName=Acme Logistics`,
		"--partner-name", "--scope", "--body", "--role-arn", "root user",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code, stdout, _ := runCLI("--help"); code != 0 || !strings.Contains(stdout, "identity-request") {
		t.Errorf("root help does not list identity-request")
	}
}

// The secret key never shows, nor the session token in an error.
func TestIdentityRequestNoSecretInErrors(t *testing.T) {
	identityEnv(t)
	c := secrettest.Plant(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", c.New("secret-key").Reveal())
	t.Setenv("AWS_SESSION_TOKEN", c.New("session-token").Reveal())
	code, stdout, stderr := runCLI(append([]string{"identity-request", "--server-id", "a\nb", "--sts-endpoint", "http://127.0.0.1:4566"}, forAcme...)...)
	if code == 0 {
		t.Fatal("a server id with a newline was accepted")
	}
	c.CheckText("stdout", stdout)
	c.CheckText("stderr", stderr)
	code, stdout, stderr = runCLI(append([]string{"identity-request", "--server-id", "s", "--sts-endpoint", "http://127.0.0.1:4566"}, forAcme...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	c.CheckText("stderr", stderr)
	if strings.Contains(stdout, "canary-secret-key") {
		t.Error("the secret key is in the output")
	}
}
