package stsproof_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/lanyardhq/lanyard/shared/fakes/stsprooftest"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

const serverID = "lanyard-unit-test"

// digest is the request digest the test requests are signed over and verified against, and
// otherDigest another request's.
var (
	digest      = hexSHA256("scopes=orders:read\npartnerName=Acme")
	otherDigest = hexSHA256("scopes=orders:read\npartnerName=Mallory")
)

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// t0 is when the test requests are signed and, unless a case says otherwise, verified.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var localCreds = aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}

// signOpts describes a request to sign with the SDK's signer: by default what Sign produces.
type signOpts struct {
	method, url, body, service, region string
	contentType, serverID, digest      string // "" leaves the header out
	extra                              map[string]string
	at                                 time.Time
	creds                              aws.Credentials
}

// signed builds and signs a request as o describes (after mod) and returns it as a Request,
// the Host header included.
func signed(t *testing.T, endpoint *url.URL, mod func(*signOpts)) stsproof.Request {
	t.Helper()
	o := signOpts{
		method: http.MethodPost, url: endpoint.String(), body: stsproof.Body, service: "sts", region: "us-east-1",
		contentType: stsproof.ContentType, serverID: serverID, digest: digest, at: t0, creds: localCreds,
	}
	if mod != nil {
		mod(&o)
	}
	req, err := http.NewRequestWithContext(t.Context(), o.method, o.url, strings.NewReader(o.body))
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if o.contentType != "" {
		req.Header.Set("Content-Type", o.contentType)
	}
	if o.serverID != "" {
		req.Header.Set(stsproof.ServerIDHeader, o.serverID)
	}
	if o.digest != "" {
		req.Header.Set(stsproof.RequestDigestHeader, o.digest)
	}
	for k, v := range o.extra {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(o.body))
	if err := v4.NewSigner().SignHTTP(t.Context(), o.creds, req, hex.EncodeToString(sum[:]), o.service, o.region, o.at); err != nil {
		t.Fatalf("sign: %v", err)
	}
	h := map[string][]string{"Host": {req.URL.Host}}
	for k, vs := range req.Header {
		h[k] = vs
	}
	return stsproof.Request{Method: o.method, URL: o.url, Headers: h, Body: o.body}
}

// recorder is an HTTP client that records where each request went, and follows no redirect.
type recorder struct {
	mu   sync.Mutex
	sent []*url.URL
}

func (r *recorder) client() *http.Client {
	return &http.Client{
		Transport:     r,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.sent = append(r.sent, req.URL)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) requests() []*url.URL {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*url.URL(nil), r.sent...)
}

// evilServer counts the requests that reach it: a host a partner names, never to be contacted.
func evilServer(t *testing.T) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int { mu.Lock(); defer mu.Unlock(); return hits }
}

func del(r *stsproof.Request, name string) {
	for k := range r.Headers {
		if strings.EqualFold(k, name) {
			delete(r.Headers, k)
		}
	}
}

func set(r *stsproof.Request, name string, vs ...string) {
	del(r, name)
	r.Headers[name] = vs
}

func get(r stsproof.Request, name string) string {
	for k, vs := range r.Headers {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// Every refusal: the error wraps ErrInvalid, gives its reason, and nothing was sent anywhere.
func TestVerifyRefusesBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	fake := stsprooftest.New(t)
	evil, evilHits := evilServer(t)
	evilURL, _ := url.Parse(evil.URL)
	ep := fake.URL.String()

	cases := []struct {
		name   string
		sign   func(*signOpts)
		after  func(*stsproof.Request)
		now    time.Time
		reason string
	}{
		{name: "GET", sign: func(o *signOpts) { o.method = http.MethodGet }, reason: "the method is not POST"},
		{name: "wrong action", sign: func(o *signOpts) { o.body = "Action=AssumeRole&Version=2011-06-15" }, reason: "the action is not GetCallerIdentity"},
		{name: "lower-case action", sign: func(o *signOpts) { o.body = "Action=getcalleridentity&Version=2011-06-15" }, reason: "the action is not GetCallerIdentity"},
		{name: "no action", sign: func(o *signOpts) { o.body = "Version=2011-06-15" }, reason: "the action is not GetCallerIdentity"},
		{name: "extra parameter", sign: func(o *signOpts) { o.body = stsproof.Body + "&RoleArn=arn:aws:iam::123456789012:role/x" }, reason: "a parameter other than Action and Version"},
		{name: "repeated action", sign: func(o *signOpts) { o.body = "Action=GetCallerIdentity&Action=GetCallerIdentity&Version=2011-06-15" }, reason: "the body repeats Action"},
		{name: "wrong version", sign: func(o *signOpts) { o.body = "Action=GetCallerIdentity&Version=2012-01-01" }, reason: "the version is not 2011-06-15"},
		{name: "body not a form", sign: func(o *signOpts) { o.body = "Action=GetCallerIdentity&Version=%zz" }, reason: "the body is not a form"},
		{name: "body with semicolons", sign: func(o *signOpts) { o.body = "Action=GetCallerIdentity;Version=2011-06-15" }, reason: "the body is not a form"},
		{name: "oversized body", sign: func(o *signOpts) { o.body = stsproof.Body + strings.Repeat("&", 2000) }, reason: "the body is larger than 1024 bytes"},
		{name: "missing server id", sign: func(o *signOpts) { o.serverID = "" }, reason: "the signature does not cover x-lanyard-server-id"},
		{name: "wrong server id", sign: func(o *signOpts) { o.serverID = "another-lanyard" }, reason: "X-Lanyard-Server-ID is not this deployment's server id"},
		{name: "server id of a Vault", sign: func(o *signOpts) { o.serverID = ""; o.extra = map[string]string{"X-Vault-AWS-IAM-Server-ID": serverID} }, reason: "the signature does not cover x-lanyard-server-id"},
		{name: "unsigned server id", sign: func(o *signOpts) { o.serverID = "" }, after: func(r *stsproof.Request) { set(r, "X-Lanyard-Server-ID", serverID) }, reason: "the signature does not cover x-lanyard-server-id"},
		{name: "signed server id removed", after: func(r *stsproof.Request) { del(r, "X-Lanyard-Server-ID") }, reason: "the signature covers x-lanyard-server-id, which the request does not carry"},
		{name: "server id twice", after: func(r *stsproof.Request) { r.Headers["x-lanyard-server-id"] = []string{serverID} }, reason: "more than one X-Lanyard-Server-ID header"},
		{name: "no request digest", sign: func(o *signOpts) { o.digest = "" }, reason: "the signature does not cover x-lanyard-request-sha256"},
		{name: "unsigned request digest", sign: func(o *signOpts) { o.digest = "" }, after: func(r *stsproof.Request) { set(r, stsproof.RequestDigestHeader, digest) },
			reason: "the signature does not cover x-lanyard-request-sha256"},
		{name: "signed request digest removed", after: func(r *stsproof.Request) { del(r, stsproof.RequestDigestHeader) },
			reason: "the signature covers x-lanyard-request-sha256, which the request does not carry"},
		{name: "another request's digest", sign: func(o *signOpts) { o.digest = otherDigest }, reason: "X-Lanyard-Request-SHA256 is not the digest of the request the proof was sent with"},
		{name: "request digest in capitals", sign: func(o *signOpts) { o.digest = strings.ToUpper(digest) }, reason: "X-Lanyard-Request-SHA256 is not the digest"},
		{name: "request digest swapped after signing", after: func(r *stsproof.Request) { set(r, stsproof.RequestDigestHeader, otherDigest) },
			reason: "X-Lanyard-Request-SHA256 is not the digest"},
		{name: "request digest twice", after: func(r *stsproof.Request) { r.Headers["x-lanyard-request-sha256"] = []string{digest} }, reason: "more than one X-Lanyard-Request-SHA256 header"},
		{name: "no Authorization", after: func(r *stsproof.Request) { del(r, "Authorization") }, reason: "no Authorization header"},
		{name: "two Authorization", after: func(r *stsproof.Request) {
			set(r, "Authorization", get(*r, "Authorization"), get(*r, "Authorization"))
		}, reason: "more than one Authorization header"},
		{name: "other scheme", after: func(r *stsproof.Request) { set(r, "Authorization", "Basic dGVzdDp0ZXN0") }, reason: "the Authorization scheme is not AWS4-HMAC-SHA256"},
		{name: "malformed Authorization", after: func(r *stsproof.Request) { set(r, "Authorization", "AWS4-HMAC-SHA256 nonsense") }, reason: "the Authorization header is malformed"},
		{name: "signature not hex", after: func(r *stsproof.Request) {
			a := get(*r, "Authorization")
			set(r, "Authorization", a[:strings.Index(a, "Signature=")]+"Signature=xyz")
		}, reason: "not 64 hex digits"},
		{name: "wrong service in scope", sign: func(o *signOpts) { o.service = "iam" }, reason: "the credential scope's service is not sts"},
		{name: "signs a header not forwarded", sign: func(o *signOpts) { o.extra = map[string]string{"X-Forwarded-Host": "sts.amazonaws.com"} }, reason: "the signature covers a header Lanyard does not forward"},
		{name: "scope date not X-Amz-Date", after: func(r *stsproof.Request) { set(r, "X-Amz-Date", t0.Add(-24*time.Hour).Format("20060102T150405Z")) }, reason: "the credential scope's date is not X-Amz-Date's"},
		{name: "X-Amz-Date not a date", after: func(r *stsproof.Request) { set(r, "X-Amz-Date", "yesterday") }, reason: "X-Amz-Date is not a date"},
		{name: "no X-Amz-Date", after: func(r *stsproof.Request) { del(r, "X-Amz-Date") }, reason: "the signature covers x-amz-date, which the request does not carry"},
		{name: "stale date", sign: func(o *signOpts) { o.at = t0.Add(-16 * time.Minute) }, reason: "signed 16m0s ago, more than 15m0s"},
		{name: "future date", sign: func(o *signOpts) { o.at = t0.Add(16 * time.Minute) }, reason: "dated 16m0s in the future"},
		{name: "JSON content type", sign: func(o *signOpts) { o.contentType = "application/x-amz-json-1.1" }, reason: "Content-Type is not application/x-www-form-urlencoded"},
		{name: "no content type", sign: func(o *signOpts) { o.contentType = "" }, reason: "no Content-Type header"},
		{name: "content length not the body's", after: func(r *stsproof.Request) { set(r, "Content-Length", "4096") }, reason: "Content-Length is not the body's length"},
		{name: "two session tokens", sign: func(o *signOpts) { o.creds.SessionToken = "token" }, after: func(r *stsproof.Request) {
			r.Headers["x-amz-security-token"] = []string{"token"}
		}, reason: "more than one X-Amz-Security-Token header"},
		{name: "signed for a foreign host", sign: func(o *signOpts) { o.url = evil.URL + "/" }, reason: "the Host header is not the STS endpoint's host"},
		{name: "foreign host in Host", after: func(r *stsproof.Request) { set(r, "Host", evilURL.Host); r.URL = "" }, reason: "the Host header is not the STS endpoint's host"},
		{name: "foreign host in Host, port only", after: func(r *stsproof.Request) { set(r, "Host", fake.URL.Hostname()+":1"); r.URL = "" }, reason: "the Host header is not the STS endpoint's host"},
		{name: "foreign host in URL", after: func(r *stsproof.Request) { r.URL = evil.URL + "/" }, reason: "the URL's host is not the STS endpoint's host"},
		{name: "foreign host in URL, no Host header", after: func(r *stsproof.Request) { del(r, "Host"); r.URL = "https://sts.amazonaws.com/" }, reason: "the URL's host is not the STS endpoint's host"},
		{name: "URL with a query", after: func(r *stsproof.Request) { r.URL = ep + "?Action=AssumeRole" }, reason: "the URL has more than a scheme, a host and the path /"},
		{name: "URL with a path", after: func(r *stsproof.Request) { r.URL = ep + "admin" }, reason: "the URL has more than a scheme, a host and the path /"},
		{name: "URL not absolute", after: func(r *stsproof.Request) { r.URL = "/" }, reason: "the URL is not an absolute http(s) URL"},
		{name: "URL not http", after: func(r *stsproof.Request) { r.URL = "file:///etc/passwd" }, reason: "the URL is not an absolute http(s) URL"},
		{name: "no host at all", after: func(r *stsproof.Request) { del(r, "Host"); r.URL = "" }, reason: "neither a Host header nor a URL"},
		{name: "two Host headers", after: func(r *stsproof.Request) { r.Headers["host"] = []string{fake.URL.Host} }, reason: "more than one Host header"},
		{name: "oversized header", after: func(r *stsproof.Request) { r.Headers["X-Padding"] = []string{strings.Repeat("a", 17<<10)} }, reason: "the headers are larger than 16384 bytes"},
		{name: "too many headers", after: func(r *stsproof.Request) {
			for i := range 40 {
				r.Headers[fmt.Sprintf("X-Extra-%d", i)] = []string{"1"}
			}
		}, reason: "more than 32 headers"},
		{name: "too many header values", after: func(r *stsproof.Request) { r.Headers["X-Extra"] = slices.Repeat([]string{"1"}, 70) }, reason: "more than 64 header values"},
		{name: "control character in a value", after: func(r *stsproof.Request) { r.Headers["X-Extra"] = []string{"a\r\nX-Injected: 1"} }, reason: "a header value holds a control character"},
		{name: "header name not a token", after: func(r *stsproof.Request) { r.Headers["X Extra"] = []string{"1"} }, reason: "a header name is not an HTTP token"},
		{name: "oversized URL", after: func(r *stsproof.Request) { r.URL = ep + "?" + strings.Repeat("a", 3000) }, reason: "the URL is longer than 2048 bytes"},
		{name: "no headers", after: func(r *stsproof.Request) { r.Headers = nil }, reason: "no Authorization header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := signed(t, fake.URL, tc.sign)
			if tc.after != nil {
				tc.after(&r)
			}
			now := t0
			if !tc.now.IsZero() {
				now = tc.now
			}
			rec := &recorder{}
			v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, HTTP: rec.client(), Now: func() time.Time { return now }}
			id, err := v.Verify(t.Context(), r, digest)
			if !errors.Is(err, stsproof.ErrInvalid) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalid", id, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not give the reason %q", err, tc.reason)
			}
			if sent := rec.requests(); len(sent) != 0 {
				t.Errorf("a refused request was sent: %v", sent)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(fake.Calls()); n != 0 {
			t.Errorf("STS received %d requests; refusals send none", n)
		}
		if n := evilHits(); n != 0 {
			t.Errorf("the host a request named received %d requests", n)
		}
	})
}

// What Verify accepts, and what it then sends: to the configured endpoint only, with the
// allow-listed headers only, the signature intact (the fake STS checks it).
func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	fake := stsprooftest.New(t)
	evil, evilHits := evilServer(t)
	other := aws.Credentials{AccessKeyID: "AKIAPARTNER", SecretAccessKey: "partner-secret", SessionToken: "partner-session"}
	partner := stsproof.Identity{AccountID: "123456789012", ARN: "arn:aws:sts::123456789012:assumed-role/Deploy/alice", UserID: "AROAEXAMPLE:alice"}
	fake.Allow(other, partner)

	cases := []struct {
		name  string
		sign  func(*signOpts)
		after func(*stsproof.Request)
		want  stsproof.Identity
	}{
		{name: "as signed", want: stsprooftest.LocalIdentity},
		{name: "temporary credentials", sign: func(o *signOpts) { o.creds = other }, want: partner},
		{name: "lower-case header names", after: func(r *stsproof.Request) {
			h := map[string][]string{}
			for k, vs := range r.Headers {
				h[strings.ToLower(k)] = vs
			}
			r.Headers = h
		}, want: stsprooftest.LocalIdentity},
		{name: "no Host header, the URL's host", after: func(r *stsproof.Request) { del(r, "Host") }, want: stsprooftest.LocalIdentity},
		{name: "no URL, the Host header", after: func(r *stsproof.Request) { r.URL = "" }, want: stsprooftest.LocalIdentity},
		{name: "URL names https, sent to the endpoint's http", after: func(r *stsproof.Request) {
			r.URL = "https://" + fake.URL.Host + "/"
		}, want: stsprooftest.LocalIdentity},
		{name: "URL without a path", after: func(r *stsproof.Request) { r.URL = strings.TrimSuffix(r.URL, "/") }, want: stsprooftest.LocalIdentity},
		{name: "14 minutes old", sign: func(o *signOpts) { o.at = t0.Add(-14 * time.Minute) }, want: stsprooftest.LocalIdentity},
		{name: "14 minutes ahead", sign: func(o *signOpts) { o.at = t0.Add(14 * time.Minute) }, want: stsprooftest.LocalIdentity},
		{name: "parameters reordered", sign: func(o *signOpts) { o.body = "Version=2011-06-15&Action=GetCallerIdentity" }, want: stsprooftest.LocalIdentity},
		{name: "content length given", after: func(r *stsproof.Request) { set(r, "Content-Length", fmt.Sprint(len(stsproof.Body))) }, want: stsprooftest.LocalIdentity},
		{name: "unsigned extra headers dropped", after: func(r *stsproof.Request) {
			r.Headers["Accept"] = []string{"application/json"}
			r.Headers["Cookie"] = []string{"session=1"}
			r.Headers["X-Forwarded-Host"] = []string{evil.Listener.Addr().String()}
			r.Headers["User-Agent"] = []string{"aws-sdk-go-v2"}
		}, want: stsprooftest.LocalIdentity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := signed(t, fake.URL, tc.sign)
			if tc.after != nil {
				tc.after(&r)
			}
			before := len(fake.Calls())
			rec := &recorder{}
			v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, HTTP: rec.client(), Now: func() time.Time { return t0 }}
			id, err := v.Verify(t.Context(), r, digest)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != tc.want {
				t.Errorf("identity = %+v, want %+v", id, tc.want)
			}
			sent := rec.requests()
			if len(sent) != 1 || sent[0].String() != fake.URL.String() {
				t.Errorf("sent to %v, want exactly %s", sent, fake.URL)
			}
			if len(fake.Calls()) <= before {
				t.Error("STS received nothing")
			}
		})
	}
	t.Cleanup(func() {
		for _, c := range fake.Calls() {
			if c.Method != http.MethodPost || c.Path != "/" || c.Host != fake.URL.Host || c.Body != stsproof.Body && !strings.HasPrefix(c.Body, "Version=") {
				t.Errorf("STS received %s %s%s with body %q", c.Method, c.Host, c.Path, c.Body)
			}
			for name := range c.Header {
				switch name {
				case "Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Lanyard-Server-Id", "X-Lanyard-Request-Sha256", "Content-Type":
				case "Content-Length", "Accept-Encoding", "User-Agent": // the HTTP client's own
				default:
					t.Errorf("STS received header %s, which is not on the allow-list", name)
				}
			}
			if ua := c.Header.Get("User-Agent"); strings.Contains(ua, "aws-sdk") {
				t.Errorf("the partner's User-Agent was forwarded")
			}
		}
		if n := evilHits(); n != 0 {
			t.Errorf("another host received %d requests", n)
		}
	})
}

// STS's answers: a refusal is ErrInvalid with the code only; anything else is Lanyard's
// trouble (not ErrInvalid).
func TestVerifySTSAnswers(t *testing.T) {
	t.Parallel()
	const xmlType = "text/xml"
	cases := []struct {
		name        string
		after       func(*stsproof.Request)
		sign        func(*signOpts)
		status      int // with ctype and body, a fixed answer; 0: the fake STS answers
		ctype, body string
		invalid     bool
		want        stsproof.Identity
		reason      string
	}{
		{name: "signature tampered", after: func(r *stsproof.Request) {
			a := get(*r, "Authorization")
			last := a[len(a)-1:]
			swap := map[string]string{"0": "1"}[last]
			if swap == "" {
				swap = "0"
			}
			set(r, "Authorization", a[:len(a)-1]+swap)
		}, invalid: true, reason: "rejected by STS (HTTP 403, SignatureDoesNotMatch)"},
		{name: "unknown access key", sign: func(o *signOpts) { o.creds = aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"} },
			invalid: true, reason: "rejected by STS (HTTP 403, InvalidClientTokenId)"},
		{name: "expired token", status: 400, ctype: xmlType, body: `<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error></ErrorResponse>`,
			invalid: true, reason: "rejected by STS (HTTP 400, ExpiredToken)"},
		{name: "error code with markup", status: 403, ctype: xmlType, body: `<ErrorResponse><Error><Code>a b&lt;c&gt;</Code></Error></ErrorResponse>`,
			invalid: true, reason: "rejected by STS (HTTP 403, no error code)"},
		{name: "JSON error", status: 403, ctype: "application/json", body: `{"Error":{"Code":"AccessDenied","Message":"no"}}`,
			invalid: true, reason: "rejected by STS (HTTP 403, AccessDenied)"},
		{name: "throttled", status: 400, ctype: xmlType, body: `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`,
			reason: "answered HTTP 400 (Throttling)"},
		{name: "500", status: 500, ctype: xmlType, body: `<ErrorResponse><Error><Code>InternalFailure</Code></Error></ErrorResponse>`,
			reason: "answered HTTP 500 (InternalFailure)"},
		{name: "503 without body", status: 503, reason: "answered HTTP 503 (no error code)"},
		{name: "redirect", status: 307, ctype: xmlType, reason: "answered HTTP 307"},
		{name: "200 not XML", status: 200, ctype: xmlType, body: `hello`, reason: "the body is not a GetCallerIdentityResponse"},
		{name: "200 other document", status: 200, ctype: xmlType, body: `<AssumeRoleResponse/>`, reason: "the body is not a GetCallerIdentityResponse"},
		{name: "200 bad account", status: 200, ctype: xmlType, body: identityXML("arn:aws:iam::12345:root", "AIDA", "12345"), reason: "the account is not 12 digits"},
		{name: "200 bad ARN", status: 200, ctype: xmlType, body: identityXML("root", "AIDA", "123456789012"), reason: "the ARN does not parse"},
		{name: "200 ARN of another account", status: 200, ctype: xmlType, body: identityXML("arn:aws:iam::999999999999:root", "AIDA", "123456789012"), reason: "the ARN's account is not the account"},
		{name: "200 no user id", status: 200, ctype: xmlType, body: identityXML("arn:aws:iam::123456789012:root", "", "123456789012"), reason: "no user id"},
		{name: "200 oversized", status: 200, ctype: xmlType, body: strings.Repeat(" ", 65<<10), reason: "answered more than 65536 bytes"},
		{name: "200 JSON", status: 200, ctype: "application/json",
			body: `{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Account":"123456789012","Arn":"arn:aws:iam::123456789012:user/bob","UserId":"AIDABOB"}}}`,
			want: stsproof.Identity{AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/bob", UserID: "AIDABOB"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := stsprooftest.New(t)
			if tc.status != 0 {
				fake.Answer(tc.status, tc.ctype, tc.body)
			}
			r := signed(t, fake.URL, tc.sign)
			if tc.after != nil {
				tc.after(&r)
			}
			v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, Now: func() time.Time { return t0 }}
			id, err := v.Verify(t.Context(), r, digest)
			if tc.reason == "" {
				if err != nil || id != tc.want {
					t.Fatalf("Verify = %+v, %v; want %+v", id, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = %+v; want an error", id)
			}
			if got := errors.Is(err, stsproof.ErrInvalid); got != tc.invalid {
				t.Errorf("errors.Is(%q, ErrInvalid) = %v, want %v", err, got, tc.invalid)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			if len(fake.Calls()) != 1 {
				t.Errorf("STS received %d requests, want 1", len(fake.Calls()))
			}
		})
	}
}

func identityXML(arn, userID, account string) string {
	return `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
		`<Arn>` + arn + `</Arn><UserId>` + userID + `</UserId><Account>` + account + `</Account>` +
		`</GetCallerIdentityResult></GetCallerIdentityResponse>`
}

func TestVerifyUnreachableSTS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	ep, err := stsproof.ParseEndpoint(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	v := &stsproof.Verifier{ServerID: serverID, Endpoint: ep, Now: func() time.Time { return t0 }}
	_, err = v.Verify(t.Context(), signed(t, ep, nil), digest)
	if err == nil || errors.Is(err, stsproof.ErrInvalid) {
		t.Fatalf("Verify against a closed endpoint = %v, want an error that is not ErrInvalid", err)
	}
}

func TestVerifierConfiguration(t *testing.T) {
	t.Parallel()
	fake := stsprooftest.New(t)
	r := signed(t, fake.URL, nil)
	now := func() time.Time { return t0 }
	for name, v := range map[string]*stsproof.Verifier{
		"no server id":       {Endpoint: fake.URL, Now: now},
		"no endpoint":        {ServerID: serverID, Now: now},
		"endpoint with path": {ServerID: serverID, Endpoint: &url.URL{Scheme: "http", Host: fake.URL.Host, Path: "/sts"}, Now: now},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := v.Verify(t.Context(), r, digest); err == nil || errors.Is(err, stsproof.ErrInvalid) {
				t.Errorf("Verify = %v, want a configuration error that is not ErrInvalid", err)
			}
		})
	}
	for name, d := range map[string]string{"no request digest": "", "request digest not hex": strings.ToUpper(digest), "request digest short": digest[:63]} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, Now: now}
			if _, err := v.Verify(t.Context(), r, d); err == nil || errors.Is(err, stsproof.ErrInvalid) {
				t.Errorf("Verify = %v, want an error of the caller's that is not ErrInvalid", err)
			}
		})
	}
	t.Run("MaxSkew", func(t *testing.T) {
		t.Parallel()
		v := &stsproof.Verifier{ServerID: serverID, Endpoint: fake.URL, Now: func() time.Time { return t0.Add(6 * time.Minute) }, MaxSkew: 5 * time.Minute}
		if _, err := v.Verify(t.Context(), r, digest); !errors.Is(err, stsproof.ErrInvalid) {
			t.Errorf("Verify 6 minutes later with MaxSkew 5m = %v, want ErrInvalid", err)
		}
	})
	t.Cleanup(func() {
		if n := len(fake.Calls()); n != 0 {
			t.Errorf("STS received %d requests", n)
		}
	})
}
