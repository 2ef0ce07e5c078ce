package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/partnername"
)

// invitesPath is the route of createInvite, under the endpoint (which may end in a stage path).
const invitesPath = "/v1/admin/invites"

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
			// The rule the API holds names to, checked here first so ops get it on one line.
			name, err := partnername.Normalize(req.PartnerName)
			if err != nil {
				return usageError{fmt.Errorf("--partner-name %w", err)}
			}
			req.PartnerName = name
			req.ExpiresIn = int64(expiresIn / time.Second)
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
				_, _ = fmt.Fprintf(w, "Partner\t%s\n", displayName(inv.PartnerName, 200))
				_, _ = fmt.Fprintf(w, "Tier\t%s\n", inv.Tier)
				_, _ = fmt.Fprintf(w, "Expires at\t%s\n", inv.ExpiresAt)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.PartnerName, "partner-name", "", "the partner's name, as it will onboard (required)")
	f.StringVar(&req.Tier, "tier", "", "the tier of policy/policy.json the partner is admitted to (required)")
	f.DurationVar(&expiresIn, "expires-in", 168*time.Hour, "how long the invite works (1h to 720h)")
	f.StringVar(&endpoint, "endpoint", "", endpointHelp)
	return cmd
}

// invitesURL joins the endpoint ("" for the default) and the invites route.
func invitesURL(endpoint string) (string, error) { return routeURL(endpoint, invitesPath, nil) }

// createInvite sends the SigV4-signed createInvite request and returns the invite and the body
// as received. A problem answer becomes the error "<title>: <detail>".
func createInvite(ctx context.Context, target string, in inviteRequest) (issuedInvite, []byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return issuedInvite{}, nil, fmt.Errorf("encode the request: %w", err)
	}
	raw, err := callAdmin(ctx, http.MethodPost, target, body, http.StatusCreated)
	if err != nil {
		return issuedInvite{}, nil, err
	}
	var inv issuedInvite
	if err := json.Unmarshal(raw, &inv); err != nil || inv.InviteCode == "" || inv.InviteID == "" {
		return issuedInvite{}, nil, fmt.Errorf("POST %s answered 201 without an invite", redactURL(target))
	}
	return inv, raw, nil
}
