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
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/awsconfig"
)

// DefaultAPIURL is where `lanyard local` serves the API; LANYARD_API_URL overrides it.
const DefaultAPIURL = "http://127.0.0.1:4510"

// APIURLEnv names the variable that gives the API's default endpoint.
const APIURLEnv = "LANYARD_API_URL"

// invitesPath is the route of createInvite, under the endpoint (which may end in a stage path).
const invitesPath = "/v1/admin/invites"

// apiTimeout bounds one call to the API.
const apiTimeout = 30 * time.Second

func newInviteCmd(out *output) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invite",
		Short: "Issue invites partners onboard with",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newInviteCreateCmd(out))
	return cmd
}

// inviteRequest is the createInvite request body.
type inviteRequest struct {
	PartnerName string `json:"partnerName"`
	Tier        string `json:"tier"`
	ExpiresIn   int64  `json:"expiresIn"`
}

// issuedInvite is the createInvite answer (the Invite schema), printed as received.
type issuedInvite struct {
	InviteCode  string `json:"inviteCode"`
	InviteID    string `json:"inviteId"`
	PartnerName string `json:"partnerName"`
	Tier        string `json:"tier"`
	ExpiresAt   string `json:"expiresAt"`
}

func newInviteCreateCmd(out *output) *cobra.Command {
	var req inviteRequest
	var expiresIn time.Duration
	var endpoint string
	cmd := &cobra.Command{
		Use:   "create --partner-name NAME --tier TIER",
		Short: "Issue a one-time invite code for a partner",
		Long: "create issues an invite: a one-time code with which the named partner onboards into the tier.\n" +
			"The code is printed this once (Lanyard keeps only its hash); hand it to the partner over a\n" +
			"trusted channel. The request is SigV4-signed for execute-api with the credentials and region\n" +
			"of the default AWS configuration chain (AWS_PROFILE, AWS_REGION, …).\n" +
			"The endpoint defaults to $" + APIURLEnv + ", else " + DefaultAPIURL + " (`lanyard local`).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case strings.TrimSpace(req.PartnerName) == "":
				return usageError{errors.New("--partner-name is required")}
			case strings.TrimSpace(req.Tier) == "":
				return usageError{errors.New("--tier is required")}
			case expiresIn < time.Second || expiresIn%time.Second != 0:
				return usageError{fmt.Errorf("--expires-in must be a positive whole number of seconds, not %s", expiresIn)}
			}
			req.ExpiresIn = int64(expiresIn / time.Second)
			if endpoint == "" {
				endpoint = envOr(APIURLEnv, DefaultAPIURL)
			}
			target, err := invitesURL(endpoint)
			if err != nil {
				return usageError{err}
			}
			inv, raw, err := createInvite(cmd.Context(), target, req)
			if err != nil {
				return err
			}
			if out.json() {
				return out.emit(json.RawMessage(raw), nil)
			}
			return out.emit(nil, func(w io.Writer) {
				_, _ = fmt.Fprintf(w, "Invite code\t%s\n", inv.InviteCode)
				_, _ = fmt.Fprintf(w, "Invite id\t%s\n", inv.InviteID)
				_, _ = fmt.Fprintf(w, "Partner\t%s\n", inv.PartnerName)
				_, _ = fmt.Fprintf(w, "Tier\t%s\n", inv.Tier)
				_, _ = fmt.Fprintf(w, "Expires at\t%s\n", inv.ExpiresAt)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.PartnerName, "partner-name", "", "the partner's name, as it will onboard (required)")
	f.StringVar(&req.Tier, "tier", "", "the tier of policy/policy.json the partner is admitted to (required)")
	f.DurationVar(&expiresIn, "expires-in", 168*time.Hour, "how long the invite works (1h to 720h)")
	f.StringVar(&endpoint, "endpoint", "", "the API's base URL, stage included (default $"+APIURLEnv+" or "+DefaultAPIURL+")")
	return cmd
}

// invitesURL joins the endpoint and the invites route.
func invitesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--endpoint must be an http or https URL without query, not %q", endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + invitesPath
	u.RawPath = ""
	return u.String(), nil
}

// createInvite sends the SigV4-signed createInvite request and returns the invite and the body
// as received. A problem answer becomes the error "<title>: <detail>".
func createInvite(ctx context.Context, target string, in inviteRequest) (issuedInvite, []byte, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return issuedInvite{}, nil, err
	}
	if cfg.Credentials == nil {
		return issuedInvite{}, nil, errors.New("no AWS credentials: configure the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, …)")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return issuedInvite{}, nil, fmt.Errorf("get AWS credentials: %w", err)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return issuedInvite{}, nil, fmt.Errorf("encode the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return issuedInvite{}, nil, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", cfg.Region, time.Now().UTC()); err != nil {
		return issuedInvite{}, nil, fmt.Errorf("sign the request: %w", err)
	}

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return issuedInvite{}, nil, fmt.Errorf("POST %s: %w", redactURL(target), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return issuedInvite{}, nil, fmt.Errorf("read the answer to POST %s: %w", redactURL(target), err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" {
		return issuedInvite{}, nil, problemError(resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusCreated {
		return issuedInvite{}, nil, fmt.Errorf("POST %s answered HTTP %d (%s)", redactURL(target), resp.StatusCode, oneLine(mt, 80))
	}
	var inv issuedInvite
	if err := json.Unmarshal(raw, &inv); err != nil || inv.InviteCode == "" || inv.InviteID == "" {
		return issuedInvite{}, nil, fmt.Errorf("POST %s answered 201 without an invite", redactURL(target))
	}
	return inv, raw, nil
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

// oneLine makes text from the server safe to print on one line: control characters become
// spaces, and it is cut at max runes.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}

// redactURL drops any user information from a URL before it is printed.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the endpoint"
	}
	return u.Redacted()
}
