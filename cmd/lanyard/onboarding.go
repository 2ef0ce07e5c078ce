package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/features/onboarding"
)

// onboardingsPath is the route of listOnboardings; approve and deny are under it.
const onboardingsPath = "/v1/admin/onboardings"

func newOnboardingCmd(out *output) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "onboarding",
		Short: "List, approve and deny onboardings that need an ops approval",
		Long: "A partner onboarding into a tier that needs an ops approval (policy/policy.json's\n" +
			"approvalRequired) gets a pending onboarding and a pick-up token, and nothing else, until ops\n" +
			"approve it; it then collects its key once with the token. A denied or expired onboarding\n" +
			"issues nothing. Onboardings expire 7 days after they were made.\n" +
			"Requests are SigV4-signed for execute-api with the credentials and region of the default AWS\n" +
			"configuration chain (AWS_PROFILE, AWS_REGION, …); the signer is recorded as the decider.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newOnboardingListCmd(out), newOnboardingDecideCmd(out, "approve"), newOnboardingDecideCmd(out, "deny"))
	return cmd
}

// onboardingView is an onboarding as the admin routes answer it (the Onboarding schema).
type onboardingView struct {
	OnboardingID string   `json:"onboardingId"`
	Status       string   `json:"status"`
	PartnerID    string   `json:"partnerId"`
	PartnerName  string   `json:"partnerName"`
	Tier         string   `json:"tier"`
	Scopes       []string `json:"scopes"`
	Identity     struct {
		Method    string `json:"method"`
		InviteID  string `json:"inviteId"`
		AccountID string `json:"accountId"`
		ARN       string `json:"arn"`
	} `json:"identity"`
	CreatedAt   string `json:"createdAt"`
	ExpiresAt   string `json:"expiresAt"`
	DecidedBy   string `json:"decidedBy"`
	DecidedAt   string `json:"decidedAt"`
	Reason      string `json:"reason"`
	CollectedAt string `json:"collectedAt"`
}

// identity names how the partner proved who it is, in a few words.
func (v onboardingView) identity() string {
	switch {
	case v.Identity.AccountID != "":
		return v.Identity.Method + " " + v.Identity.AccountID
	case v.Identity.InviteID != "":
		return v.Identity.Method + " " + v.Identity.InviteID
	}
	return v.Identity.Method
}

func newOnboardingListCmd(out *output) *cobra.Command {
	var status, endpoint string
	statuses := make([]string, 0, len(onboarding.Statuses()))
	for _, s := range onboarding.Statuses() {
		statuses = append(statuses, string(s))
	}
	cmd := &cobra.Command{
		Use:   "list [--status STATUS]",
		Short: "List onboardings, newest first (at most 100)",
		Long: "list prints the onboardings that needed an approval, newest first, at most 100; with\n" +
			"--status, only those with that status now (" + strings.Join(statuses, ", ") + "; expired:\n" +
			"pending or approved past its expiry). `--status pending` is what waits for ops.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var query url.Values
			if status != "" {
				if !slices.Contains(statuses, status) {
					return usageError{fmt.Errorf("--status must be one of %s, not %q", strings.Join(statuses, ", "), status)}
				}
				query = url.Values{"status": {status}}
			}
			target, err := routeURL(endpoint, onboardingsPath, query)
			if err != nil {
				return usageError{err}
			}
			raw, err := callAdmin(cmd.Context(), http.MethodGet, target, nil, http.StatusOK)
			if err != nil {
				return err
			}
			var list struct {
				Onboardings []onboardingView `json:"onboardings"`
				Truncated   bool             `json:"truncated"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("GET %s answered 200 without a list of onboardings", redactURL(target))
			}
			if out.json() {
				return out.emit(json.RawMessage(raw), nil)
			}
			return out.emit(nil, func(w io.Writer) {
				_, _ = fmt.Fprintln(w, "ONBOARDING\tSTATUS\tPARTNER\tTIER\tSCOPES\tIDENTITY\tCREATED\tEXPIRES")
				for _, v := range list.Onboardings {
					_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.OnboardingID, v.Status, displayName(v.PartnerName, 60),
						v.Tier, strings.Join(v.Scopes, ","), v.identity(), v.CreatedAt, v.ExpiresAt)
				}
				if list.Truncated {
					_, _ = fmt.Fprintln(w, "(more onboardings matched: narrow the list with --status)")
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&status, "status", "", "only onboardings with this status: "+strings.Join(statuses, ", "))
	f.StringVar(&endpoint, "endpoint", "", endpointHelp)
	return cmd
}

// newOnboardingDecideCmd is `lanyard onboarding approve` or `… deny`.
func newOnboardingDecideCmd(out *output, verb string) *cobra.Command {
	var reason, endpoint string
	long := "approve lets the partner of a pending onboarding collect its key, once, with its pick-up\n" +
		"token, until the onboarding expires."
	if verb == "deny" {
		long = "deny refuses a pending onboarding: nothing will be issued for it, and an AWS account it\n" +
			"claimed may onboard again."
	}
	cmd := &cobra.Command{
		Use:   verb + " ONBOARDING_ID [--reason TEXT]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending onboarding",
		Long:  long + "\nOnly a pending onboarding that has not expired can be approved or denied. The reason is\nrecorded with the decision and in its audit event.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("%s takes one onboarding id, not %d arguments", verb, len(args))}
			}
			if !onboarding.ValidOnboardingID(args[0]) {
				return usageError{fmt.Errorf("%q is not an onboarding id (onb- and 26 lowercase letters and digits)", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("reason") && strings.TrimSpace(reason) == "" {
				return usageError{errors.New("--reason must not be empty")}
			}
			body := []byte("{}")
			if reason != "" {
				b, err := json.Marshal(map[string]string{"reason": reason})
				if err != nil {
					return fmt.Errorf("encode the request: %w", err)
				}
				body = b
			}
			target, err := routeURL(endpoint, onboardingsPath+"/"+url.PathEscape(args[0])+"/"+verb, nil)
			if err != nil {
				return usageError{err}
			}
			raw, err := callAdmin(cmd.Context(), http.MethodPost, target, body, http.StatusOK)
			if err != nil {
				return err
			}
			var v onboardingView
			if err := json.Unmarshal(raw, &v); err != nil || v.OnboardingID == "" {
				return fmt.Errorf("POST %s answered 200 without an onboarding", redactURL(target))
			}
			if out.json() {
				return out.emit(json.RawMessage(raw), nil)
			}
			return out.emit(nil, func(w io.Writer) {
				for _, row := range [][2]string{
					{"Onboarding", v.OnboardingID}, {"Status", v.Status}, {"Partner", displayName(v.PartnerName, 200)},
					{"Partner id", v.PartnerID}, {"Tier", v.Tier}, {"Scopes", strings.Join(v.Scopes, ", ")},
					{"Identity", v.identity()}, {"Decided by", v.DecidedBy}, {"Decided at", v.DecidedAt},
					{"Reason", oneLine(v.Reason, 500)}, {"Expires at", v.ExpiresAt},
				} {
					if row[1] != "" {
						_, _ = fmt.Fprintf(w, "%s\t%s\n", row[0], row[1])
					}
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&reason, "reason", "", "why: recorded with the decision and in its audit event")
	f.StringVar(&endpoint, "endpoint", "", endpointHelp)
	return cmd
}
