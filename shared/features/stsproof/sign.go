package stsproof

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Sign builds the request a partner proves its identity with: a GetCallerIdentity POST to
// endpoint (which must be the STS endpoint the Lanyard deployment verifies against), with an
// X-Lanyard-Server-ID header carrying the deployment's id and an X-Lanyard-Request-SHA256
// header carrying requestDigest (the lowercase hex SHA-256 of the request the proof goes
// with: onboarding.RequestDigest), SigV4-signed at now with creds for STS in region. Nothing
// is sent. The Request carries the Host header it was signed with.
func Sign(ctx context.Context, creds aws.Credentials, region string, endpoint *url.URL, serverID, requestDigest string, now time.Time) (Request, error) {
	switch {
	case endpoint == nil:
		return Request{}, errors.New("stsproof: sign: no STS endpoint")
	case region == "":
		return Request{}, errors.New("stsproof: sign: no AWS region")
	case serverID == "" || !isFieldValue(serverID) || strings.TrimSpace(serverID) != serverID:
		return Request{}, errors.New("stsproof: sign: the server id must be non-empty printable text without surrounding space")
	case !hex64.MatchString(requestDigest):
		return Request{}, errors.New("stsproof: sign: the request digest must be a lowercase hex SHA-256")
	case creds.AccessKeyID == "" || creds.SecretAccessKey == "":
		return Request{}, errors.New("stsproof: sign: no AWS credentials")
	}
	target, err := ParseEndpoint(endpoint.String())
	if err != nil {
		return Request{}, fmt.Errorf("stsproof: sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(Body))
	if err != nil {
		return Request{}, fmt.Errorf("stsproof: sign: build the request: %w", err)
	}
	req.Host = target.Host
	req.Header.Set("Content-Type", ContentType)
	// Spelt as documented rather than canonicalised (X-Lanyard-Server-Id): header names are
	// case-insensitive, and the printed request reads as the documentation does.
	req.Header[ServerIDHeader] = []string{serverID}
	req.Header[RequestDigestHeader] = []string{requestDigest}
	sum := sha256.Sum256([]byte(Body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), Service, region, now.UTC()); err != nil {
		return Request{}, fmt.Errorf("stsproof: sign: %w", err)
	}
	h := map[string][]string{"Host": {req.Host}}
	for k, vs := range req.Header {
		h[k] = append([]string(nil), vs...)
	}
	return Request{Method: http.MethodPost, URL: target.String(), Headers: h, Body: Body}, nil
}
