package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const (
	rotatePartner = "p-d4xq7m2kf5hb3nz6w2yr7tcvae"
	startedBody   = `{"partnerId":"p-d4xq7m2kf5hb3nz6w2yr7tcvae","secretArn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:lanyard/partners/p-d4xq7m2kf5hb3nz6w2yr7tcvae-AbCdEf","versionId":"3f0e9a52-6c1d-4b7e-9f08-2a4c6e8b1d35","rotationStarted":"2026-11-24T09:30:00Z"}`
)

// `lanyard rotate` POSTs the partner's rotate route, SigV4-signed, without a body, and prints
// the rotation the API started.
func TestRotate(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 202, "application/json", startedBody)
	code, out, errOut := runCLI("rotate", rotatePartner, "--endpoint", api.srv.URL)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, line := range []string{
		"Partner           p-d4xq7m2kf5hb3nz6w2yr7tcvae\n",
		"Secret            arn:aws:secretsmanager:us-east-1:123456789012:secret:lanyard/partners/p-d4xq7m2kf5hb3nz6w2yr7tcvae-AbCdEf\n",
		"New version       3f0e9a52-6c1d-4b7e-9f08-2a4c6e8b1d35\n",
		"Rotation started  2026-11-24T09:30:00Z\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("stdout %q lacks %q", out, line)
		}
	}
	reqs := api.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.sigErr != nil || r.path != "/v1/admin/partners/"+rotatePartner+"/rotate" || r.body != nil {
		t.Errorf("request %+v", r)
	}
}

func TestRotateJSONAndStage(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 202, "application/json", startedBody)
	t.Setenv(APIURLEnv, api.srv.URL+"/prod")
	code, out, errOut := runCLI("rotate", rotatePartner, "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var printed, sent map[string]any
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("stdout is not JSON: %q", out)
	}
	_ = json.Unmarshal([]byte(startedBody), &sent)
	if fmt.Sprint(printed) != fmt.Sprint(sent) {
		t.Errorf("printed %v, want the body %v", printed, sent)
	}
	if r := api.requests()[0]; r.sigErr != nil || r.path != "/prod/v1/admin/partners/"+rotatePartner+"/rotate" {
		t.Errorf("request %+v", r)
	}
}

func TestRotateRefused(t *testing.T) {
	awsEnv(t)
	cases := []struct {
		name, ct, body string
		status         int
		want           string
	}{
		{"in progress", "application/problem+json", `{"type":"https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#conflict","title":"Conflict","status":409,"detail":"A rotation of partner p-d4xq7m2kf5hb3nz6w2yr7tcvae's key is already in progress (secret version 3f0e9a52 is AWSPENDING)."}`, 409,
			"lanyard: Conflict: A rotation of partner p-d4xq7m2kf5hb3nz6w2yr7tcvae's key is already in progress (secret version 3f0e9a52 is AWSPENDING).\n"},
		{"unknown partner", "application/problem+json", `{"type":"https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#not-found","title":"Not Found","status":404,"detail":"The resource does not exist."}`, 404,
			"lanyard: Not Found: The resource does not exist.\n"},
		{"not a problem", "text/html", "<html>bad gateway</html>", 502, ""},
		{"202 without a rotation", "application/json", `{}`, 202, ""},
		{"200 instead of 202", "application/json", startedBody, 200, ""},
	}
	for _, c := range cases {
		api := newFakeAPI(t, c.status, c.ct, c.body)
		code, out, errOut := runCLI("rotate", rotatePartner, "--endpoint", api.srv.URL)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "lanyard: ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line", c.name, code, out, errOut)
		}
		if c.want != "" && errOut != c.want {
			t.Errorf("%s: stderr %q, want %q", c.name, errOut, c.want)
		}
	}
}

func TestRotateUsage(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 202, "application/json", startedBody)
	for name, args := range map[string][]string{
		"no partner":         {"rotate", "--endpoint", api.srv.URL},
		"two partners":       {"rotate", rotatePartner, rotatePartner, "--endpoint", api.srv.URL},
		"not a partner id":   {"rotate", "acme", "--endpoint", api.srv.URL},
		"an account claim":   {"rotate", "account#123456789012", "--endpoint", api.srv.URL},
		"a path in disguise": {"rotate", "p-d4xq7m2kf5hb3nz6w2yr7tcva/", "--endpoint", api.srv.URL},
		"bad endpoint":       {"rotate", rotatePartner, "--endpoint", "ftp://example.com"},
	} {
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and one line", name, code, out, errOut)
		}
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent for bad command lines", n)
	}
}
