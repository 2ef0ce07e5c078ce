package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// partnersPath is the admin routes' base for one partner; rotate is under it.
const partnersPath = "/v1/admin/partners"

// rotationStarted is the rotatePartnerKey answer (the RotationStarted schema).
type rotationStarted struct {
	PartnerID       string `json:"partnerId"`
	SecretARN       string `json:"secretArn"`
	VersionID       string `json:"versionId"`
	RotationStarted string `json:"rotationStarted"`
}

func newRotateCmd(out *output) *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "rotate PARTNER_ID",
		Short: "Rotate a partner's key now, through Secrets Manager",
		Long: "rotate starts a rotation of the partner's key now, out of its schedule: the API asks Secrets\n" +
			"Manager to rotate the partner's secret (RotateSecret), which runs Lanyard's rotation function as\n" +
			"on a scheduled rotation. The new key becomes current; the one it replaces stays valid as previous\n" +
			"until its grace ends, so the partner moves over without an outage. In AWS the rotation runs after\n" +
			"the answer: its outcome is Credential Rotated (or Credential Rotation Failed) on the audit trail.\n" +
			"A rotation already in progress is refused.\n" +
			"The request is SigV4-signed for execute-api with the credentials and region of the default AWS\n" +
			"configuration chain (AWS_PROFILE, AWS_REGION, …); the signer is logged as the requester.\n" +
			"The endpoint defaults to $" + APIURLEnv + ", else " + DefaultAPIURL + " (`lanyard local`).",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("rotate takes one partner id, not %d arguments", len(args))}
			}
			if !partners.ValidID(args[0]) {
				return usageError{fmt.Errorf("%q is not a partner id (p- and 26 lowercase letters and digits)", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := routeURL(endpoint, partnersPath+"/"+url.PathEscape(args[0])+"/rotate", nil)
			if err != nil {
				return usageError{err}
			}
			raw, err := callAdmin(cmd.Context(), http.MethodPost, target, nil, http.StatusAccepted)
			if err != nil {
				return err
			}
			var r rotationStarted
			if err := json.Unmarshal(raw, &r); err != nil || r.PartnerID == "" || r.VersionID == "" {
				return fmt.Errorf("POST %s answered 202 without a rotation", redactURL(target))
			}
			if out.json() {
				return out.emit(json.RawMessage(raw), nil)
			}
			return out.emit(nil, func(w io.Writer) {
				for _, row := range [][2]string{
					{"Partner", r.PartnerID}, {"Secret", r.SecretARN}, {"New version", r.VersionID}, {"Rotation started", r.RotationStarted},
				} {
					_, _ = fmt.Fprintf(w, "%s\t%s\n", row[0], oneLine(row[1], 300))
				}
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", endpointHelp)
	return cmd
}
