package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/lanyardhq/lanyard/shared/domain/partnername"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
)

// The admin routes are AWS_IAM: every call is SigV4-signed for execute-api with the default
// AWS configuration chain's credentials and region, as API Gateway (and `lanyard local`'s
// front) checks them.

// DefaultAPIURL is where `lanyard local` serves the API; LANYARD_API_URL overrides it.
const DefaultAPIURL = "http://127.0.0.1:4510"

// APIURLEnv names the variable that gives the API's default endpoint.
const APIURLEnv = "LANYARD_API_URL"

// apiTimeout bounds one call to the API.
const apiTimeout = 30 * time.Second

// endpointHelp is the help of every admin command's --endpoint flag.
const endpointHelp = "the API's base URL, stage included (default $" + APIURLEnv + " or " + DefaultAPIURL + ")"

// routeURL joins the endpoint (which may end in a stage path; "" means $LANYARD_API_URL, else
// DefaultAPIURL) and a route's path, whose segments the caller has escaped, and adds query.
func routeURL(endpoint, path string, query url.Values) (string, error) {
	if endpoint == "" {
		endpoint = envOr(APIURLEnv, DefaultAPIURL)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--endpoint must be an http or https URL without query, not %q", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u.String(), nil
}

// callAdmin sends a SigV4-signed request to an admin route and returns the body of an answer
// with status want. A problem answer becomes the error "<title>: <detail>"; any other answer
// an error naming its status. body nil sends none.
func callAdmin(ctx context.Context, method, target string, body []byte, want int) ([]byte, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials == nil {
		return nil, errors.New("no AWS credentials: configure the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, …)")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("get AWS credentials: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", cfg.Region, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("sign the request: %w", err)
	}

	what := method + " " + redactURL(target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer to %s: %w", what, err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" {
		return nil, problemError(resp.StatusCode, raw)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s answered HTTP %d (%s)", what, resp.StatusCode, oneLine(mt, 80))
	}
	return raw, nil
}

// problemError turns a problem+json answer into "<title>: <detail>".
func problemError(status int, raw []byte) error {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(raw, &p)
	title, detail := oneLine(p.Title, 200), oneLine(p.Detail, 500)
	if title == "" {
		title = fmt.Sprintf("HTTP %d", status)
	}
	if detail == "" {
		return errors.New(title)
	}
	return fmt.Errorf("%s: %s", title, detail)
}

// oneLine makes text from the server safe to print on one line: control characters, and every
// other character a partner name may not hold (format characters such as bidirectional
// overrides, private-use characters, separators: partnername.Allowed), become spaces, and it
// is cut at max runes.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || !partnername.Allowed(r) }), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}

// displayName makes a partner name from the server safe to print on one line: as it is when it
// holds nothing a terminal would act on or hide, else quoted with such characters escaped
// (partnername.Quote: "Acme \u202eexe.GPJ"), and cut at max runes. A name stored before names
// were checked, or an answer from a server that does not check them, shows as what it is.
func displayName(name string, limit int) string { return oneLine(partnername.Quote(name), limit) }

// redactURL drops any user information from a URL before it is printed.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the endpoint"
	}
	return u.Redacted()
}
