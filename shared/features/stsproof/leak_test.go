package stsproof_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/fakes/stsprooftest"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// The signature, the session token and the secret key never reach an error or a log: not on
// success, not in a refusal, not when STS's error message quotes them, not when the Request
// itself is logged or formatted. Not parallel: Plant swaps the default logger.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	c := secrettest.Plant(t)
	creds := aws.Credentials{
		AccessKeyID:     "AKIACANARYPARTNER",
		SecretAccessKey: c.New("secret-key").Reveal(),
		SessionToken:    c.New("session-token").Reveal(),
	}
	partner := stsproof.Identity{AccountID: "123456789012", ARN: "arn:aws:sts::123456789012:assumed-role/Deploy/alice", UserID: "AROAEXAMPLE:alice"}
	fake := stsprooftest.New(t)
	fake.Allow(creds, partner)
	r, err := stsproof.Sign(t.Context(), creds, "us-east-1", fake.URL, serverID, digest, t0)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	auth := get(r, "Authorization")
	_, sig, _ := strings.Cut(auth, "Signature=")
	if len(sig) != 64 {
		t.Fatalf("no signature in the signed request")
	}
	c.Add("signature", sig)
	c.Add("authorization", auth)

	verify := func(r stsproof.Request, now time.Time) error {
		v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, Now: func() time.Time { return now }}
		_, err := v.Verify(t.Context(), r, digest)
		c.CheckError(err)
		return err
	}
	if err := verify(r, t0); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	refusals := map[string]func(*stsproof.Request){
		"wrong server id":      func(r *stsproof.Request) { set(r, stsproof.ServerIDHeader, "other") },
		"other request digest": func(r *stsproof.Request) { set(r, stsproof.RequestDigestHeader, otherDigest) },
		"foreign URL":          func(r *stsproof.Request) { r.URL = "https://sts.amazonaws.com/" },
		"wrong action":         func(r *stsproof.Request) { r.Body = "Action=AssumeRole&Version=2011-06-15" },
		"malformed authorization": func(r *stsproof.Request) {
			set(r, "Authorization", strings.Replace(get(*r, "Authorization"), "Credential=", "Credential ", 1))
		},
		"token with a control character": func(r *stsproof.Request) { set(r, "X-Amz-Security-Token", creds.SessionToken+"\n") },
		"tampered signature": func(r *stsproof.Request) {
			set(r, "Authorization", strings.Replace(auth, sig, strings.Repeat("0", 64), 1))
		},
	}
	for name, mod := range refusals {
		cp := r
		cp.Headers = map[string][]string{}
		for k, vs := range r.Headers {
			cp.Headers[k] = vs
		}
		mod(&cp)
		if err := verify(cp, t0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := verify(r, t0.Add(time.Hour)); err == nil {
		t.Error("stale: accepted")
	}

	// STS's error message quotes the canonical request, as real STS does for
	// SignatureDoesNotMatch: only the code may come through.
	fake.Answer(http.StatusForbidden, "text/xml", `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The Canonical String for this request should have been 'POST / x-amz-security-token:`+
		creds.SessionToken+` `+auth+`'</Message></Error></ErrorResponse>`)
	if err := verify(r, t0); err == nil {
		t.Error("STS 403: accepted")
	}
	fake.Answer(http.StatusInternalServerError, "text/plain", creds.SessionToken)
	if err := verify(r, t0); err == nil {
		t.Error("STS 500: accepted")
	}

	// The Request formatted or logged by mistake.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		c.CheckText("fmt "+verb, fmt.Sprintf(verb, r))
	}
	slog.Info("identity request", "request", r)
	slog.Info("identity request", slog.Any("request", &r))
}
