// Package stsprooftest is a fake STS for tests of code that verifies identity requests: it
// answers GetCallerIdentity, after checking the request's SigV4 signature as STS does (unlike
// LocalStack, which checks none), so a test sees a forwarded request break if its signature
// would.
package stsprooftest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/lanyardhq/lanyard/shared/features/stsproof"
)

// LocalIdentity is who the local credentials (test/test) are: the local account's root, whose
// user id is, as for any root, the account id.
var LocalIdentity = stsproof.Identity{
	AccountID: "000000000000",
	ARN:       "arn:aws:iam::000000000000:root",
	UserID:    "000000000000",
}

// Call is one request the fake received.
type Call struct {
	Method string
	Host   string
	Path   string
	Header http.Header
	Body   string
}

// STS is the fake. Its zero value is not usable: call New.
type STS struct {
	// URL is the fake's endpoint, as stsproof.ParseEndpoint gives it.
	URL *url.URL

	srv    *httptest.Server
	mu     sync.Mutex
	calls  []Call
	known  map[string]principal
	answer func() (int, string, string)
}

type principal struct {
	secret string
	id     stsproof.Identity
}

// New starts a fake that knows the local credentials (test/test, LocalIdentity) and stops it
// when the test ends.
func New(t testing.TB) *STS {
	t.Helper()
	s := &STS{known: map[string]principal{"test": {secret: "test", id: LocalIdentity}}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	u, err := stsproof.ParseEndpoint(s.srv.URL)
	if err != nil {
		t.Fatalf("stsprooftest: %v", err)
	}
	s.URL = u
	return s
}

// Allow makes the fake know creds' access key, as the principal id.
func (s *STS) Allow(creds aws.Credentials, id stsproof.Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[creds.AccessKeyID] = principal{secret: creds.SecretAccessKey, id: id}
}

// Answer makes the fake answer every request that reaches it with status, content type and
// body, signature or not (an STS outage, an odd answer).
func (s *STS) Answer(status int, contentType, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = func() (int, string, string) { return status, contentType, body }
}

// Client is an HTTP client for the fake.
func (s *STS) Client() *http.Client { return s.srv.Client() }

// Calls returns the requests received so far.
func (s *STS) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *STS) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: r.Method, Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(raw)})
	answer := s.answer
	s.mu.Unlock()
	if answer != nil {
		status, ct, body := answer()
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	form, err := url.ParseQuery(string(raw))
	if r.Method != http.MethodPost || r.URL.Path != "/" || err != nil || form.Get("Action") != "GetCallerIdentity" {
		writeError(w, http.StatusBadRequest, "InvalidAction")
		return
	}
	p, code := s.check(r.Context(), r, raw)
	if code != "" {
		writeError(w, http.StatusForbidden, code)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>%s</Arn>
    <UserId>%s</UserId>
    <Account>%s</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, p.id.ARN, p.id.UserID, p.id.AccountID)
}

// check verifies r's signature by signing a copy holding only the headers r's signature
// covers, with the SDK's signer at r's X-Amz-Date, and returns the principal or an STS
// error code.
func (s *STS) check(ctx context.Context, r *http.Request, body []byte) (principal, string) {
	algo, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if algo != "AWS4-HMAC-SHA256" {
		return principal{}, "MissingAuthenticationToken"
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[k] = v
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[3] != "sts" {
		return principal{}, "IncompleteSignature"
	}
	s.mu.Lock()
	p, ok := s.known[scope[0]]
	s.mu.Unlock()
	if !ok {
		return principal{}, "InvalidClientTokenId"
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return principal{}, "IncompleteSignature"
	}
	cp := &http.Request{Method: r.Method, URL: &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}, Host: r.Host, Header: http.Header{}}
	var token string
	for h := range strings.SplitSeq(params["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		case "x-amz-security-token":
			token = r.Header.Get(h)
		default:
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: p.secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(ctx, creds, cp, hex.EncodeToString(sum[:]), "sts", scope[2], signedAt); err != nil {
		return principal{}, "IncompleteSignature"
	}
	if cp.Header.Get("Authorization") != r.Header.Get("Authorization") {
		return principal{}, "SignatureDoesNotMatch"
	}
	return p, ""
}

func writeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>%s</Code><Message>The request was refused.</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>`, code)
}
