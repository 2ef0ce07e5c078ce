package stsproof

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// ErrInvalid marks every refusal of a Request, by Lanyard's checks or by STS: the partner's
// proof is not acceptable (a 403 for the caller). Any other error from Verify is Lanyard's or
// STS's trouble (a 5xx). The wrapping error's text gives the reason, for the log; it never
// quotes a header value, the body or the signature.
var ErrInvalid = errors.New("identity proof invalid")

// The request a partner signs.
const (
	// ServerIDHeader names the header carrying the deployment's id; the signature must cover it.
	ServerIDHeader = "X-Lanyard-Server-ID"
	// RequestDigestHeader names the header binding the proof to the one request it is sent
	// with: the lowercase hex SHA-256 the caller of Verify expects (for an onboarding,
	// onboarding.RequestDigest of its partner name and scopes). The signature must cover it,
	// so a captured proof cannot serve another request.
	RequestDigestHeader = "X-Lanyard-Request-SHA256"
	// Body is the form body of a GetCallerIdentity call, as Sign writes it.
	Body = "Action=GetCallerIdentity&Version=2011-06-15"
	// ContentType is the body's media type, as Sign sends it.
	ContentType = "application/x-www-form-urlencoded; charset=utf-8"
	// Service is the SigV4 signing name of STS.
	Service = "sts"
	// DefaultMaxSkew is how far from now a request's X-Amz-Date may be, either way, when the
	// Verifier sets no MaxSkew: STS's own limit for a signature.
	DefaultMaxSkew = 15 * time.Minute
)

// Bounds on what Verify reads. A signed GetCallerIdentity request is far smaller: its body is
// 43 bytes, its headers well under 4 KiB even with a long session token.
const (
	MaxBodyBytes    = 1 << 10
	MaxURLBytes     = 2 << 10
	MaxHeaderNames  = 32
	MaxHeaderValues = 64
	MaxHeaderBytes  = 16 << 10
	// maxResponseBytes bounds STS's answer; a GetCallerIdentityResponse is under 1 KiB.
	maxResponseBytes = 64 << 10
)

const (
	amzDateLayout = "20060102T150405Z"
	algorithm     = "AWS4-HMAC-SHA256"
	action        = "GetCallerIdentity"
	version       = "2011-06-15"
)

// forwardedHeaders are the only headers of a Request sent on to STS. Host is set from the
// endpoint and Content-Length from the body, by the HTTP client.
var forwardedHeaders = []string{
	"Authorization", "X-Amz-Date", "X-Amz-Security-Token", http.CanonicalHeaderKey(ServerIDHeader),
	http.CanonicalHeaderKey(RequestDigestHeader), "Content-Type",
}

// signable are the headers a signature may cover: the forwarded ones and host and
// content-length, which the forwarded request carries as signed.
var signable = map[string]bool{
	"host": true, "content-length": true, "content-type": true,
	"x-amz-date": true, "x-amz-security-token": true, strings.ToLower(ServerIDHeader): true,
	strings.ToLower(RequestDigestHeader): true,
}

// mustSign are the headers the signature has to cover.
var mustSign = []string{"host", "x-amz-date", strings.ToLower(ServerIDHeader), strings.ToLower(RequestDigestHeader)}

// HTTPDoer sends a request: an *http.Client. It should not follow redirects (the default
// client does not): STS never redirects, and a redirect would take the signed headers along.
type HTTPDoer interface {
	Do(req *http.Request) (*http.Response, error)
}

var _ HTTPDoer = (*http.Client)(nil)

// defaultHTTP is used when a Verifier has no HTTP: a 10-second budget, no redirects.
var defaultHTTP = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Verifier checks Requests and asks STS who signed them.
type Verifier struct {
	// ServerID is this deployment's id (LANYARD_SERVER_ID): X-Lanyard-Server-ID must equal it.
	ServerID string
	// Endpoint is the STS endpoint (EndpointFromEnv). Requests go to its scheme and host, path
	// "/", and must have been signed for its host.
	Endpoint *url.URL
	// HTTP sends the request to STS; nil means a client with a 10-second timeout.
	HTTP HTTPDoer
	// Now is the clock the request's date is checked against; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how old, or how far in the future, X-Amz-Date may be; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
}

// checked is a Request that passed every check: what is sent to STS.
type checked struct {
	header http.Header
	body   string
}

// Verify checks r, signed for the request whose digest is requestDigest (the lowercase hex
// SHA-256 its RequestDigestHeader must carry), sends it to the configured STS endpoint and
// returns the identity STS answers with. A refusal wraps ErrInvalid; nothing is sent for a
// request that fails a check.
func (v *Verifier) Verify(ctx context.Context, r Request, requestDigest string) (Identity, error) {
	target, err := v.target()
	if err != nil {
		return Identity{}, err
	}
	if !hex64.MatchString(requestDigest) {
		return Identity{}, errors.New("stsproof: verify identity request: the expected request digest is not a lowercase hex SHA-256")
	}
	c, err := v.check(r, target, requestDigest)
	if err != nil {
		return Identity{}, fmt.Errorf("stsproof: verify identity request: %w", err)
	}
	id, err := v.forward(ctx, target, c)
	if err != nil {
		return Identity{}, fmt.Errorf("stsproof: verify identity request: %w", err)
	}
	return id, nil
}

// target is where requests go: the endpoint's scheme and host, path "/".
func (v *Verifier) target() (*url.URL, error) {
	if v.ServerID == "" {
		return nil, errors.New("stsproof: the verifier has no server id")
	}
	if v.Endpoint == nil {
		return nil, errors.New("stsproof: the verifier has no STS endpoint")
	}
	u, err := ParseEndpoint(v.Endpoint.String())
	if err != nil {
		return nil, fmt.Errorf("stsproof: the verifier's STS endpoint: %w", err)
	}
	return u, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// refuse is a refusal: ErrInvalid with a reason for the log.
func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// check runs every check on r, in the order of the package documentation. No reason quotes
// anything r carries.
func (v *Verifier) check(r Request, target *url.URL, requestDigest string) (checked, error) {
	if r.Method != http.MethodPost {
		return checked{}, refuse("the method is not POST")
	}
	if err := checkBody(r.Body); err != nil {
		return checked{}, err
	}
	h, err := headers(r.Headers)
	if err != nil {
		return checked{}, err
	}
	auth, err := parseAuthorization(h)
	if err != nil {
		return checked{}, err
	}
	for _, name := range mustSign {
		if !auth.signed[name] {
			return checked{}, refuse("the signature does not cover %s", name)
		}
	}
	for name := range auth.signed {
		if !signable[name] {
			return checked{}, refuse("the signature covers a header Lanyard does not forward (only host, content-length, content-type, x-amz-date, x-amz-security-token, %s and %s may be signed)",
				strings.ToLower(ServerIDHeader), strings.ToLower(RequestDigestHeader))
		}
		if name != "host" && name != "content-length" && len(h.Values(name)) == 0 {
			return checked{}, refuse("the signature covers %s, which the request does not carry", name)
		}
	}

	ids, err := once(h, ServerIDHeader)
	if err != nil {
		return checked{}, err
	}
	if ids != v.ServerID {
		return checked{}, refuse("%s is not this deployment's server id", ServerIDHeader)
	}
	digest, err := once(h, RequestDigestHeader)
	if err != nil {
		return checked{}, err
	}
	if digest != requestDigest {
		return checked{}, refuse("%s is not the digest of the request the proof was sent with", RequestDigestHeader)
	}

	date, err := once(h, "X-Amz-Date")
	if err != nil {
		return checked{}, err
	}
	signedAt, err := time.Parse(amzDateLayout, date)
	if err != nil {
		return checked{}, refuse("X-Amz-Date is not a date of the form 20060102T150405Z")
	}
	if auth.scopeDate != signedAt.Format("20060102") {
		return checked{}, refuse("the credential scope's date is not X-Amz-Date's")
	}
	now, skew := v.now(), v.maxSkew()
	if age := now.Sub(signedAt); age > skew {
		return checked{}, refuse("signed %s ago, more than %s", age.Round(time.Second), skew)
	}
	if ahead := signedAt.Sub(now); ahead > skew {
		return checked{}, refuse("dated %s in the future, more than %s", ahead.Round(time.Second), skew)
	}

	ct, err := once(h, "Content-Type")
	if err != nil {
		return checked{}, err
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
		return checked{}, refuse("Content-Type is not application/x-www-form-urlencoded")
	}
	if n := len(h.Values("X-Amz-Security-Token")); n > 1 {
		return checked{}, refuse("more than one X-Amz-Security-Token header")
	}
	if vs := h.Values("Content-Length"); len(vs) > 0 && (len(vs) > 1 || vs[0] != fmt.Sprint(len(r.Body))) {
		return checked{}, refuse("Content-Length is not the body's length")
	}
	if err := checkHost(h, r.URL, target); err != nil {
		return checked{}, err
	}

	fwd := http.Header{}
	for _, name := range forwardedHeaders {
		if vs := h.Values(name); len(vs) > 0 {
			fwd[name] = append([]string(nil), vs...)
		}
	}
	return checked{header: fwd, body: r.Body}, nil
}

// checkBody checks the body is exactly Action=GetCallerIdentity and Version=2011-06-15.
func checkBody(body string) error {
	if len(body) > MaxBodyBytes {
		return refuse("the body is larger than %d bytes", MaxBodyBytes)
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		return refuse("the body is not a form")
	}
	for key, vs := range form {
		switch {
		case key != "Action" && key != "Version":
			return refuse("the body carries a parameter other than Action and Version")
		case len(vs) != 1:
			return refuse("the body repeats %s", key)
		}
	}
	switch {
	case form.Get("Action") != action:
		return refuse("the action is not GetCallerIdentity")
	case form.Get("Version") != version:
		return refuse("the version is not 2011-06-15")
	}
	return nil
}

// headers merges r's headers under their canonical names, within the bounds.
func headers(in map[string][]string) (http.Header, error) {
	if len(in) > MaxHeaderNames {
		return nil, refuse("more than %d headers", MaxHeaderNames)
	}
	h := make(http.Header, len(in))
	values, size := 0, 0
	for name, vs := range in {
		if !isToken(name) {
			return nil, refuse("a header name is not an HTTP token")
		}
		values += len(vs)
		size += len(name)
		for _, v := range vs {
			size += len(v)
			if !isFieldValue(v) {
				return nil, refuse("a header value holds a control character")
			}
		}
		if values > MaxHeaderValues {
			return nil, refuse("more than %d header values", MaxHeaderValues)
		}
		if size > MaxHeaderBytes {
			return nil, refuse("the headers are larger than %d bytes", MaxHeaderBytes)
		}
		key := http.CanonicalHeaderKey(name)
		h[key] = append(h[key], vs...)
	}
	return h, nil
}

// once returns the one value of the header name, or a refusal when there is none or more.
func once(h http.Header, name string) (string, error) {
	switch vs := h.Values(name); len(vs) {
	case 1:
		return vs[0], nil
	case 0:
		return "", refuse("no %s header", name)
	default:
		return "", refuse("more than one %s header", name)
	}
}

// authorization is what Verify needs of the Authorization header.
type authorization struct {
	scopeDate string
	signed    map[string]bool
}

// hex64 is 32 bytes in lowercase hex: a SigV4 signature, or a SHA-256 as RequestDigestHeader
// carries it.
var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseAuthorization parses the one Authorization header: AWS4-HMAC-SHA256
// Credential=<key id>/<date>/<region>/sts/aws4_request, SignedHeaders=<a;b;c>, Signature=<hex>.
func parseAuthorization(h http.Header) (authorization, error) {
	raw, err := once(h, "Authorization")
	if err != nil {
		return authorization{}, err
	}
	scheme, rest, _ := strings.Cut(raw, " ")
	if scheme != algorithm {
		return authorization{}, refuse("the Authorization scheme is not %s", algorithm)
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, refuse("the Authorization header is malformed")
		}
		if _, dup := params[k]; dup {
			return authorization{}, refuse("the Authorization header repeats a parameter")
		}
		switch k {
		case "Credential", "SignedHeaders", "Signature":
			params[k] = val
		default:
			return authorization{}, refuse("the Authorization header has an unknown parameter")
		}
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || scope[2] == "" || scope[4] != "aws4_request" {
		return authorization{}, refuse("the Authorization credential is not <key id>/<date>/<region>/<service>/aws4_request")
	}
	if scope[3] != Service {
		return authorization{}, refuse("the credential scope's service is not sts")
	}
	if params["SignedHeaders"] == "" {
		return authorization{}, refuse("the Authorization header names no signed headers")
	}
	signed := map[string]bool{}
	for name := range strings.SplitSeq(params["SignedHeaders"], ";") {
		signed[name] = true
	}
	if !hex64.MatchString(params["Signature"]) {
		return authorization{}, refuse("the Authorization signature is not 64 hex digits")
	}
	return authorization{scopeDate: scope[1], signed: signed}, nil
}

// checkHost checks the request was signed for the target's host: its Host header, else its
// URL's host, must be the target's; a URL, when given, must name that host too.
func checkHost(h http.Header, rawURL string, target *url.URL) error {
	var host string
	switch vs := h.Values("Host"); len(vs) {
	case 0:
	case 1:
		host = vs[0]
		if !sameHost(host, target.Scheme, target) {
			return refuse("the Host header is not the STS endpoint's host")
		}
	default:
		return refuse("more than one Host header")
	}
	if rawURL != "" {
		if len(rawURL) > MaxURLBytes {
			return refuse("the URL is longer than %d bytes", MaxURLBytes)
		}
		u, err := url.Parse(rawURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return refuse("the URL is not an absolute http(s) URL")
		case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
			return refuse("the URL has more than a scheme, a host and the path /")
		case !sameHost(u.Host, u.Scheme, target):
			return refuse("the URL's host is not the STS endpoint's host")
		}
		host = u.Host
	}
	if host == "" {
		return refuse("neither a Host header nor a URL says which host the request was signed for")
	}
	return nil
}

// sameHost reports whether host (a host[:port] seen with scheme) names target's host.
func sameHost(host, scheme string, target *url.URL) bool {
	return strings.EqualFold(canonicalHost(host, scheme), target.Host)
}

// canonicalHost lowercases host and drops the scheme's default port, as SigV4 signers do.
func canonicalHost(host, scheme string) string {
	host = strings.ToLower(host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	}
	return host
}

// forward sends the checked request to target and reads STS's answer.
func (v *Verifier) forward(ctx context.Context, target *url.URL, c checked) (Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(c.body))
	if err != nil {
		return Identity{}, fmt.Errorf("build the STS request: %w", err)
	}
	req.Header = c.header
	req.Host = target.Host
	doer := v.HTTP
	if doer == nil {
		doer = defaultHTTP
	}
	resp, err := doer.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("call STS at %s: %w", target.Host, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return Identity{}, fmt.Errorf("read the answer of STS at %s: %w", target.Host, err)
	}
	if len(raw) > maxResponseBytes {
		return Identity{}, fmt.Errorf("STS at %s answered more than %d bytes", target.Host, maxResponseBytes)
	}
	isJSON := isJSONType(resp.Header.Get("Content-Type"))
	switch resp.StatusCode {
	case http.StatusOK:
		id, err := parseIdentity(raw, isJSON)
		if err != nil {
			return Identity{}, fmt.Errorf("STS at %s answered 200: %w", target.Host, err)
		}
		return id, nil
	case http.StatusBadRequest, http.StatusForbidden:
		code := errorCode(raw, isJSON)
		if unavailable[code] {
			return Identity{}, fmt.Errorf("STS at %s answered HTTP %d (%s)", target.Host, resp.StatusCode, code)
		}
		return Identity{}, refuse("rejected by STS (HTTP %d, %s)", resp.StatusCode, code)
	default:
		return Identity{}, fmt.Errorf("STS at %s answered HTTP %d (%s)", target.Host, resp.StatusCode, errorCode(raw, isJSON))
	}
}

// unavailable are STS error codes answered with a 400 that say nothing about the request:
// throttling. They are Lanyard's trouble (retry later), not a refused proof.
var unavailable = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true, "ServiceUnavailable": true,
}

func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/x-amz-json"))
}

// callerIdentity is the GetCallerIdentityResult, in STS's XML or JSON.
type callerIdentity struct {
	Arn     string `xml:"Arn" json:"Arn"`
	UserID  string `xml:"UserId" json:"UserId"`
	Account string `xml:"Account" json:"Account"`
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// parseIdentity reads a GetCallerIdentityResponse and checks the identity in it.
func parseIdentity(raw []byte, isJSON bool) (Identity, error) {
	var res callerIdentity
	if isJSON {
		var doc struct {
			Response struct {
				Result callerIdentity `json:"GetCallerIdentityResult"`
			} `json:"GetCallerIdentityResponse"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return Identity{}, errors.New("the body is not a GetCallerIdentityResponse")
		}
		res = doc.Response.Result
	} else {
		var doc struct {
			XMLName xml.Name       `xml:"GetCallerIdentityResponse"`
			Result  callerIdentity `xml:"GetCallerIdentityResult"`
		}
		if err := xml.Unmarshal(raw, &doc); err != nil {
			return Identity{}, errors.New("the body is not a GetCallerIdentityResponse")
		}
		res = doc.Result
	}
	if !accountID.MatchString(res.Account) {
		return Identity{}, errors.New("the account is not 12 digits")
	}
	parsed, err := arn.Parse(res.Arn)
	if err != nil {
		return Identity{}, errors.New("the ARN does not parse")
	}
	if parsed.AccountID != res.Account {
		return Identity{}, errors.New("the ARN's account is not the account")
	}
	if res.UserID == "" || len(res.UserID) > 256 {
		return Identity{}, errors.New("no user id")
	}
	return Identity{AccountID: res.Account, ARN: res.Arn, UserID: res.UserID}, nil
}

var safeCode = regexp.MustCompile(`^[A-Za-z0-9.:_-]{1,64}$`)

// errorCode is the error code of an STS error answer, or "no error code": never its message,
// which may quote the canonical request (signed header values included).
func errorCode(raw []byte, isJSON bool) string {
	var code string
	if isJSON {
		var doc struct {
			Error struct {
				Code string `json:"Code"`
			} `json:"Error"`
			Type string `json:"__type"`
		}
		if json.Unmarshal(raw, &doc) == nil {
			code = doc.Error.Code
			if code == "" {
				_, code, _ = strings.Cut(doc.Type, "#")
			}
		}
	} else {
		var doc struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Code    string   `xml:"Error>Code"`
		}
		if xml.Unmarshal(raw, &doc) == nil {
			code = doc.Code
		}
	}
	if !safeCode.MatchString(code) {
		return "no error code"
	}
	return code
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// isFieldValue reports whether s holds no control character but tab.
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
