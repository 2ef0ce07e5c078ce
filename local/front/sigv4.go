package front

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lanyardhq/lanyard/shared/platform/iamarn"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Service    = "execute-api"
	amzDateFormat   = "20060102T150405Z"
	maxSignatureAge = 5 * time.Minute // AWS's allowed clock skew, either way
)

// iamIdentity is the caller of an aws-iam route, for requestContext.identity.
type iamIdentity struct {
	accessKey, accountID, caller, user, userArn string
}

// sigV4Header is a parsed SigV4 Authorization header.
type sigV4Header struct {
	accessKey     string
	date          string // the credential scope's date, YYYYMMDD
	region        string
	service       string
	terminator    string
	signedHeaders []string
	signature     string
}

// signatureError is API Gateway's 403 for a signature it cannot accept. AWS's message goes in
// the detail; it never quotes the Authorization header.
func signatureError(errorType, detail string) *gatewayError {
	return &gatewayError{
		responseType: respInvalidSignature, status: http.StatusForbidden,
		errorType: errorType, detail: detail, cause: errors.New(detail),
	}
}

// verifySignature admits an aws-iam request signed with SigV4 by the local credentials. The
// signature is recomputed with the SDK's signer over a copy of the request holding only the
// headers the caller signed, at the caller's X-Amz-Date, and compared in constant time.
func (f *Front) verifySignature(ctx context.Context, c *call) (admission, *gatewayError) {
	r := c.r
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return admission{}, &gatewayError{
			responseType: respMissingToken, status: http.StatusForbidden,
			errorType: "MissingAuthenticationTokenException", detail: "Missing Authentication Token",
			cause: errors.New("aws-iam route called without an Authorization header"),
		}
	}
	h, msg := parseSigV4Header(authz)
	if msg != "" {
		return admission{}, signatureError("IncompleteSignatureException", msg)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return admission{}, signatureError("IncompleteSignatureException",
			"Authorization header requires existence of a valid 'X-Amz-Date' header.")
	}
	switch {
	case h.date != amzDate[:8]:
		return admission{}, signatureError("InvalidSignatureException",
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", h.date, amzDate[:8], amzDate))
	case h.region != f.cfg.Region:
		return admission{}, signatureError("InvalidSignatureException", "Credential should be scoped to a valid region.")
	case h.service != sigV4Service:
		return admission{}, signatureError("InvalidSignatureException", "Credential should be scoped to correct service: 'execute-api'.")
	case h.terminator != "aws4_request":
		return admission{}, signatureError("InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request'.")
	case !slices.Contains(h.signedHeaders, "host"):
		return admission{}, signatureError("IncompleteSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	now := f.cfg.Now().UTC()
	if signedAt.Before(now.Add(-maxSignatureAge)) {
		return admission{}, signatureError("InvalidSignatureException", fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 5 min.)",
			amzDate, now.Add(-maxSignatureAge).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if signedAt.After(now.Add(maxSignatureAge)) {
		return admission{}, signatureError("InvalidSignatureException", fmt.Sprintf(
			"Signature not yet current: %s is still later than %s (%s + 5 min.)",
			amzDate, now.Add(maxSignatureAge).Format(amzDateFormat), now.Format(amzDateFormat)))
	}

	signer, creds, err := f.signerOf(ctx, h.accessKey)
	if err != nil {
		return admission{}, internalError(err)
	}
	if signer == nil ||
		creds.SessionToken != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(creds.SessionToken)) != 1 {
		return admission{}, signatureError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}

	want, err := f.expectedSignature(ctx, c, h, signedAt, creds)
	if err != nil {
		return admission{}, internalError(err)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(h.signature)) != 1 {
		return admission{}, signatureError("InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}

	c.identity = h.accessKey
	id := &iamIdentity{accessKey: creds.AccessKeyID, accountID: f.cfg.AccountID, caller: f.cfg.AccountID, user: f.cfg.AccountID, userArn: signer.ARN}
	if signer.ARN != LocalPrincipalARN(f.cfg.AccountID) {
		// A user: API Gateway names it by its access key's principal, not the account.
		id.caller, id.user = creds.AccessKeyID, creds.AccessKeyID
		if p, err := iamarn.Parse(signer.ARN); err == nil {
			id.accountID = p.Account
		}
	}
	return admission{iam: id}, nil
}

// signerOf finds the local signer whose access key id the request names (compared in constant
// time with each); nil when none does.
func (f *Front) signerOf(ctx context.Context, accessKey string) (*Signer, aws.Credentials, error) {
	var (
		found *Signer
		creds aws.Credentials
	)
	for i := range f.signers {
		c, err := f.signers[i].Credentials.Retrieve(ctx)
		if err != nil {
			return nil, aws.Credentials{}, fmt.Errorf("retrieve local credentials of %s: %w", f.signers[i].ARN, err)
		}
		if subtle.ConstantTimeCompare([]byte(accessKey), []byte(c.AccessKeyID)) == 1 && found == nil {
			found, creds = &f.signers[i], c
		}
	}
	return found, creds, nil
}

// onlyDependents refuses a signed request to a route restricted to the declared dependents
// from any other principal, as the REST API's resource policy does in AWS (an explicit deny).
func (f *Front) onlyDependents(c *call, a admission) *gatewayError {
	if a.iam != nil && iamarn.AnyAdmits(f.dependents, a.iam.userArn) {
		return nil
	}
	arn := ""
	if a.iam != nil {
		arn = a.iam.userArn
	}
	return &gatewayError{
		responseType: respAccessDenied, status: http.StatusForbidden, errorType: "AccessDeniedException",
		detail: "User: " + arn + " is not authorized to perform: execute-api:Invoke on resource: " + f.methodArn(c) + " with an explicit deny",
		cause:  fmt.Errorf("principal %q is not a declared dependent of %s %s", arn, c.route.Method, c.route.Path),
	}
}

// expectedSignature signs a copy of the request the way the caller should have and returns the
// signature the SDK's signer computes.
func (f *Front) expectedSignature(ctx context.Context, c *call, h sigV4Header, signedAt time.Time, creds aws.Credentials) (string, error) {
	r := c.r
	cp := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme:   "http",
			Host:     r.Host,
			Path:     r.URL.Path,
			RawPath:  r.URL.RawPath,
			RawQuery: r.URL.RawQuery,
		},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, name := range h.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(c.body))
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				cp.Header[textproto.CanonicalMIMEHeaderKey(name)] = vs
			}
		}
	}
	sum := sha256.Sum256(c.body)
	if err := f.signer.SignHTTP(ctx, creds, cp, hex.EncodeToString(sum[:]), sigV4Service, f.cfg.Region, signedAt); err != nil {
		return "", fmt.Errorf("re-sign request copy: %w", err)
	}
	_, sig, ok := strings.Cut(cp.Header.Get("Authorization"), "Signature=")
	if !ok {
		return "", errors.New("re-sign request copy: no signature in the result")
	}
	return sig, nil
}

// parseSigV4Header parses "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…". When
// it cannot, it returns AWS's message for the client, which never quotes the header.
func parseSigV4Header(v string) (sigV4Header, string) {
	var h sigV4Header
	algorithm, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if algorithm != sigV4Algorithm {
		return h, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."
	}
	var credential, signedHeaders string
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return h, "Invalid key=value pair (missing equal-sign) in Authorization header."
		}
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			signedHeaders = val
		case "Signature":
			h.signature = val
		}
	}
	var missing []string
	for _, p := range []struct{ name, val string }{{"Credential", credential}, {"Signature", h.signature}, {"SignedHeaders", signedHeaders}} {
		if p.val == "" {
			missing = append(missing, "Authorization header requires '"+p.name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return h, strings.Join(missing, " ")
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 {
		return h, "Credential should be scoped to a valid region, service and terminator."
	}
	h.accessKey, h.date, h.region, h.service, h.terminator = scope[0], scope[1], scope[2], scope[3], scope[4]
	h.signedHeaders = strings.Split(strings.ToLower(signedHeaders), ";")
	return h, ""
}
