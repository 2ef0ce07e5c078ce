package stsproof_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/shared/fakes/stsprooftest"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// What Sign produces is what Verify accepts, also after a round trip through JSON (the
// onboarding body), and STS (the fake, which checks the signature) answers for it.
func TestSignVerifies(t *testing.T) {
	t.Parallel()
	fake := stsprooftest.New(t)
	creds := aws.Credentials{AccessKeyID: "AKIAPARTNER", SecretAccessKey: "partner-secret", SessionToken: "partner-session"}
	partner := stsproof.Identity{AccountID: "123456789012", ARN: "arn:aws:sts::123456789012:assumed-role/Deploy/alice", UserID: "AROAEXAMPLE:alice"}
	fake.Allow(creds, partner)

	r, err := stsproof.Sign(t.Context(), creds, "us-east-1", fake.URL, serverID, digest, t0)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if r.Method != http.MethodPost || r.URL != fake.URL.String() || r.Body != stsproof.Body {
		t.Errorf("Sign = %s %s %q", r.Method, r.URL, r.Body)
	}
	for name, want := range map[string]string{
		"Host":                       fake.URL.Host,
		"Content-Type":               stsproof.ContentType,
		stsproof.ServerIDHeader:      serverID,
		stsproof.RequestDigestHeader: digest,
		"X-Amz-Date":                 "20260301T120000Z",
		"X-Amz-Security-Token":       "partner-session",
	} {
		if vs := r.Headers[name]; len(vs) != 1 || vs[0] != want {
			t.Errorf("header %s = %q, want [%q]", name, vs, want)
		}
	}
	auth := get(r, "Authorization")
	for _, want := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAPARTNER/20260301/us-east-1/sts/aws4_request",
		"SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token;x-lanyard-request-sha256;x-lanyard-server-id,",
	} {
		if !strings.Contains(auth, want) {
			t.Errorf("Authorization does not contain %q", want)
		}
	}

	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back stsproof.Request
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, Now: func() time.Time { return t0.Add(time.Minute) }}
	id, err := v.Verify(t.Context(), back, digest)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id != partner {
		t.Errorf("identity = %+v, want %+v", id, partner)
	}
}

func TestSignNormalisesTheEndpoint(t *testing.T) {
	t.Parallel()
	ep, _ := url.Parse("https://STS.eu-west-1.amazonaws.com:443")
	r, err := stsproof.Sign(t.Context(), localCreds, "eu-west-1", ep, serverID, digest, t0)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if r.URL != "https://sts.eu-west-1.amazonaws.com/" || get(r, "Host") != "sts.eu-west-1.amazonaws.com" {
		t.Errorf("Sign for %s: URL %s, Host %s", ep, r.URL, get(r, "Host"))
	}
	if _, ok := r.Headers["X-Amz-Security-Token"]; ok {
		t.Error("a session token header without a session token")
	}
}

func TestSignRefuses(t *testing.T) {
	t.Parallel()
	ep, _ := url.Parse("http://127.0.0.1:4566")
	withPath, _ := url.Parse("http://127.0.0.1:4566/sts")
	cases := map[string]struct {
		creds    aws.Credentials
		region   string
		endpoint *url.URL
		serverID string
		digest   string
	}{
		"no endpoint":              {creds: localCreds, region: "us-east-1", serverID: serverID, digest: digest},
		"endpoint with a path":     {creds: localCreds, region: "us-east-1", endpoint: withPath, serverID: serverID, digest: digest},
		"no region":                {creds: localCreds, endpoint: ep, serverID: serverID, digest: digest},
		"no server id":             {creds: localCreds, region: "us-east-1", endpoint: ep, digest: digest},
		"server id with a line":    {creds: localCreds, region: "us-east-1", endpoint: ep, serverID: "a\nb", digest: digest},
		"server id with spaces":    {creds: localCreds, region: "us-east-1", endpoint: ep, serverID: " a ", digest: digest},
		"no credentials":           {region: "us-east-1", endpoint: ep, serverID: serverID, digest: digest},
		"no request digest":        {creds: localCreds, region: "us-east-1", endpoint: ep, serverID: serverID},
		"request digest not hex":   {creds: localCreds, region: "us-east-1", endpoint: ep, serverID: serverID, digest: "acme"},
		"request digest uppercase": {creds: localCreds, region: "us-east-1", endpoint: ep, serverID: serverID, digest: strings.ToUpper(digest)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if r, err := stsproof.Sign(t.Context(), tc.creds, tc.region, tc.endpoint, tc.serverID, tc.digest, t0); err == nil {
				t.Errorf("Sign = %v, want an error", r)
			}
		})
	}
}
