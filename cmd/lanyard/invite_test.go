package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const issuedBody = `{"inviteCode":"lnyd_inv_ExampleOnlyNotARealInvite0000000000000000","inviteId":"inv-abcdefghijklmnopqrstuvwxyz","partnerName":"Acme Logistics","tier":"standard","expiresAt":"2026-11-30T12:00:00Z"}`

// received is what the fake API saw of one request.
type received struct {
	path      string
	body      map[string]any
	signed    []string
	sigErr    error
	sessToken string
}

// fakeAPI answers every request with status, contentType and body, after checking its SigV4
// signature the way API Gateway (and `lanyard local`'s front) does.
type fakeAPI struct {
	mu   sync.Mutex
	got  []received
	srv  *httptest.Server
	resp func() (int, string, string)
}

func newFakeAPI(t *testing.T, status int, contentType, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{resp: func() (int, string, string) { return status, contentType, body }}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := received{path: r.URL.Path, sessToken: r.Header.Get("X-Amz-Security-Token")}
		_ = json.Unmarshal(raw, &rec.body)
		rec.signed, rec.sigErr = verifySigV4(r.Context(), r, raw)
		f.mu.Lock()
		f.got = append(f.got, rec)
		f.mu.Unlock()
		if rec.sigErr != nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"type":"about:blank","title":"Forbidden","status":403,"detail":"The signature was refused."}`)
			return
		}
		s, ct, b := f.resp()
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(s)
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

// verifySigV4 checks r carries a SigV4 signature for execute-api in us-east-1 by the access key
// "test": it parses the Authorization header and signs a copy of the request, holding only the
// headers the client signed, with the SDK's signer at the client's X-Amz-Date.
func verifySigV4(ctx context.Context, r *http.Request, body []byte) ([]string, error) {
	algorithm, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if algorithm != "AWS4-HMAC-SHA256" {
		return nil, fmt.Errorf("algorithm %q", algorithm)
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[k] = v
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return nil, fmt.Errorf("X-Amz-Date %q", amzDate)
	}
	if want := "test/" + amzDate[:8] + "/us-east-1/execute-api/aws4_request"; params["Credential"] != want {
		return nil, fmt.Errorf("credential scope %q, want %q", params["Credential"], want)
	}
	if d := time.Since(signedAt); d > 5*time.Minute || d < -5*time.Minute {
		return nil, fmt.Errorf("signed at %s", signedAt)
	}
	signed := strings.Split(params["SignedHeaders"], ";")
	cp := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		default:
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(ctx, creds, cp, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", signedAt); err != nil {
		return nil, err
	}
	if want := cp.Header.Get("Authorization"); want != r.Header.Get("Authorization") {
		return nil, fmt.Errorf("signature mismatch")
	}
	return signed, nil
}

// awsEnv gives the command the local credentials (test/test, us-east-1) and nothing else of
// this machine's AWS configuration.
func awsEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_XRAY_DAEMON_ADDRESS": "", APIURLEnv: "",
	} {
		t.Setenv(k, v)
	}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInviteCreate(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 201, "application/json", issuedBody)
	code, out, errOut := runCLI("invite", "create", "--partner-name", "Acme Logistics", "--tier", "standard", "--endpoint", api.srv.URL)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, line := range []string{
		"Invite code  lnyd_inv_ExampleOnlyNotARealInvite0000000000000000\n",
		"Invite id    inv-abcdefghijklmnopqrstuvwxyz\n",
		"Partner      Acme Logistics\n",
		"Tier         standard\n",
		"Expires at   2026-11-30T12:00:00Z\n",
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
	if r.sigErr != nil {
		t.Fatalf("signature: %v", r.sigErr)
	}
	if r.path != "/v1/admin/invites" {
		t.Errorf("path %s", r.path)
	}
	want := map[string]any{"partnerName": "Acme Logistics", "tier": "standard", "expiresIn": float64(604800)}
	if fmt.Sprint(r.body) != fmt.Sprint(want) {
		t.Errorf("body %v, want %v", r.body, want)
	}
	for _, h := range []string{"host", "content-type", "x-amz-date"} {
		if !strings.Contains(";"+strings.Join(r.signed, ";")+";", ";"+h+";") {
			t.Errorf("signed headers %v lack %s", r.signed, h)
		}
	}
}

func TestInviteCreateJSONStageAndEnv(t *testing.T) {
	awsEnv(t)
	t.Setenv("AWS_SESSION_TOKEN", "session-token")
	api := newFakeAPI(t, 201, "application/json", issuedBody)
	t.Setenv(APIURLEnv, api.srv.URL+"/prod/")
	code, out, errOut := runCLI("invite", "create", "--partner-name", "Acme", "--tier", "sandbox", "--expires-in", "1h", "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var printed, sent map[string]any
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("stdout is not JSON: %q", out)
	}
	_ = json.Unmarshal([]byte(issuedBody), &sent)
	if fmt.Sprint(printed) != fmt.Sprint(sent) {
		t.Errorf("printed %v, want the body %v", printed, sent)
	}
	r := api.requests()[0]
	if r.sigErr != nil || r.sessToken != "session-token" || r.path != "/prod/v1/admin/invites" || r.body["expiresIn"] != float64(3600) {
		t.Errorf("request %+v", r)
	}
}

func TestInviteCreateProblem(t *testing.T) {
	awsEnv(t)
	cases := []struct {
		name, ct, body string
		status         int
		want           string
	}{
		{"validation", "application/problem+json", `{"type":"https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#validation","title":"Invalid Request Body","status":400,"detail":"The request body does not match the schema of this operation: 1 field is invalid; see errors.","errors":[{"pointer":"/tier","message":"must be one of: sandbox, standard, premium"}]}`, 400,
			"lanyard: Invalid Request Body: The request body does not match the schema of this operation: 1 field is invalid; see errors.\n"},
		{"forbidden, detail on lines", "application/problem+json; charset=utf-8", `{"title":"Missing Authentication Token","status":403,"detail":"No such route,\nor the route needs a signed request."}`, 403,
			"lanyard: Missing Authentication Token: No such route, or the route needs a signed request.\n"},
		{"not a problem", "text/html", "<html>bad gateway</html>", 502, ""},
		{"201 without an invite", "application/json", `{}`, 201, ""},
	}
	for _, c := range cases {
		api := newFakeAPI(t, c.status, c.ct, c.body)
		code, out, errOut := runCLI("invite", "create", "--partner-name", "Acme", "--tier", "gold", "--endpoint", api.srv.URL)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "lanyard: ") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 and one line", c.name, code, out, errOut)
		}
		if c.want != "" && errOut != c.want {
			t.Errorf("%s: stderr %q, want %q", c.name, errOut, c.want)
		}
		if r := api.requests(); len(r) != 1 || r[0].sigErr != nil {
			t.Errorf("%s: requests %+v", c.name, r)
		}
	}
}

func TestInviteCreateUsage(t *testing.T) {
	awsEnv(t)
	api := newFakeAPI(t, 201, "application/json", issuedBody)
	base := []string{"invite", "create", "--endpoint", api.srv.URL}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no partner name", append(base, "--tier", "standard"), "lanyard: --partner-name is required\n"},
		{"no tier", append(base, "--partner-name", "Acme"), "lanyard: --tier is required\n"},
		{"bad duration", append(base, "--partner-name", "Acme", "--tier", "standard", "--expires-in", "a week"), ""},
		{"negative duration", append(base, "--partner-name", "Acme", "--tier", "standard", "--expires-in", "-1h"), ""},
		{"fractional seconds", append(base, "--partner-name", "Acme", "--tier", "standard", "--expires-in", "1.5s"), ""},
		{"unknown flag", append(base, "--partner", "Acme"), "lanyard: unknown flag: --partner\n"},
		{"stray argument", append(base, "--partner-name", "Acme", "--tier", "standard", "extra"), ""},
		{"bad endpoint", []string{"invite", "create", "--partner-name", "Acme", "--tier", "standard", "--endpoint", "ftp://example.com"}, ""},
		{"endpoint not a URL", []string{"invite", "create", "--partner-name", "Acme", "--tier", "standard", "--endpoint", "127.0.0.1:4510"}, ""},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(c.args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and one line", c.name, code, out, errOut)
		}
		if c.want != "" && errOut != c.want {
			t.Errorf("%s: stderr %q, want %q", c.name, errOut, c.want)
		}
	}
	if n := len(api.requests()); n != 0 {
		t.Errorf("%d requests sent for bad command lines", n)
	}
}

// The fake API's check is a real one: a request signed with another secret is refused.
func TestInviteCreateWrongSecret(t *testing.T) {
	awsEnv(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-test")
	api := newFakeAPI(t, 201, "application/json", issuedBody)
	code, out, errOut := runCLI("invite", "create", "--partner-name", "Acme", "--tier", "standard", "--endpoint", api.srv.URL)
	if code != 1 || out != "" || errOut != "lanyard: Forbidden: The signature was refused.\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestInvitesURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:4510":                                "http://127.0.0.1:4510/v1/admin/invites",
		"http://127.0.0.1:4510/":                               "http://127.0.0.1:4510/v1/admin/invites",
		"https://abc.execute-api.us-east-1.amazonaws.com/prod": "https://abc.execute-api.us-east-1.amazonaws.com/prod/v1/admin/invites",
	} {
		if got, err := invitesURL(in); err != nil || got != want {
			t.Errorf("invitesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
