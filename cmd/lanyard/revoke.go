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

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/revoke"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// adminRevocation is the revokePartnerKeys answer (the AdminRevocation schema).
type adminRevocation struct {
	RevocationID string   `json:"revocationId"`
	PartnerID    string   `json:"partnerId"`
	KeyIDs       []string `json:"keyIds"`
	AlreadyEnded []string `json:"alreadyEnded"`
	Reason       string   `json:"reason"`
	RevokedAt    string   `json:"revokedAt"`
	Replacement  *struct {
		ReplacementID string `json:"replacementId"`
		KeyID         string `json:"keyId"`
		PickupToken   string `json:"pickupToken"`
		ExpiresAt     string `json:"expiresAt"`
	} `json:"replacement"`
}

func newRevokeCmd(out *output) *cobra.Command {
	var endpoint, keyID, reason, note string
	var all, reissue bool
	cmd := &cobra.Command{
		Use:   "revoke PARTNER_ID (--key KEY_ID | --all) --reason REASON [--note TEXT] [--reissue]",
		Short: "Revoke one key or every key of a partner, now",
		Long: "revoke revokes one key of the partner (--key) or every key of the partner (--all: pending,\n" +
			"current and previous), with a reason (" + strings.Join(revoke.Reasons, ", ") + ")\n" +
			"and an optional note of one line, recorded with the revocation (never put a key in it). With\n" +
			"reason compromised or leaked, every key of the partner is revoked whatever --key names: a\n" +
			"leaked previous key could fetch the current one. From the answer on, a revoked key is refused\n" +
			"wherever the registry is read, and never accepted again; Credential Revoked records it.\n" +
			"Revoking again revokes nothing more and lists the keys already ended.\n" +
			"--reissue (with every key revoked: --all, or reason compromised or leaked) issues a replacement\n" +
			"key for the same partner in the same transaction, in a new generation of its secret; the\n" +
			"answer shows its one-time pick-up token (a secret: hand it and the replacement id to the\n" +
			"partner, who collects the key once with POST /v1/replacements/{replacementId}/pickup).\n" +
			"The request is SigV4-signed for execute-api with the credentials and region of the default AWS\n" +
			"configuration chain (AWS_PROFILE, AWS_REGION, …); the signer is recorded as the actor.\n" +
			"The endpoint defaults to $" + APIURLEnv + ", else " + DefaultAPIURL + " (`lanyard local`).",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("revoke takes one partner id, not %d arguments", len(args))}
			}
			if !partners.ValidID(args[0]) {
				return usageError{fmt.Errorf("%q is not a partner id (p- and 26 lowercase letters and digits)", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := revokeRequest(keyID, all, reason, note, reissue)
			if err != nil {
				return usageError{err}
			}
			target, err := routeURL(endpoint, partnersPath+"/"+url.PathEscape(args[0])+"/revoke", nil)
			if err != nil {
				return usageError{err}
			}
			body, err := json.Marshal(req)
			if err != nil {
				return fmt.Errorf("encode the request: %w", err)
			}
			raw, err := callAdmin(cmd.Context(), http.MethodPost, target, body, http.StatusOK)
			if err != nil {
				return err
			}
			var r adminRevocation
			if err := json.Unmarshal(raw, &r); err != nil || r.PartnerID == "" || r.KeyIDs == nil {
				return fmt.Errorf("POST %s answered 200 without a revocation", redactURL(target))
			}
			if out.json() {
				return out.emit(json.RawMessage(raw), nil)
			}
			return out.emit(nil, func(w io.Writer) { printRevocation(w, r) })
		},
	}
	cmd.Flags().StringVar(&keyID, "key", "", "the key id to revoke (one of the partner's)")
	cmd.Flags().BoolVar(&all, "all", false, "revoke every key of the partner")
	cmd.Flags().StringVar(&reason, "reason", "", "why: "+strings.Join(revoke.Reasons, ", "))
	cmd.Flags().StringVar(&note, "note", "", fmt.Sprintf("free text recorded with the revocation (one line, at most %d characters)", revoke.MaxNoteLength))
	cmd.Flags().BoolVar(&reissue, "reissue", false, "issue a replacement key with the revocation (every key revoked), collected once with a pick-up token")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", endpointHelp)
	return cmd
}

// revokeRequest checks the flags as the API would, so a bad command line sends nothing.
func revokeRequest(keyID string, all bool, reason, note string, reissue bool) (revoke.AdminRequest, error) {
	switch {
	case keyID != "" && all:
		return revoke.AdminRequest{}, errors.New("give --key or --all, not both")
	case keyID == "" && !all:
		return revoke.AdminRequest{}, errors.New("give --key KEY_ID or --all")
	case reason == "":
		return revoke.AdminRequest{}, errors.New("give --reason (" + strings.Join(revoke.Reasons, ", ") + ")")
	case !slices.Contains(revoke.Reasons, reason):
		return revoke.AdminRequest{}, fmt.Errorf("--reason %q is not one of %s", oneLine(reason, 40), strings.Join(revoke.Reasons, ", "))
	}
	if keyID != "" {
		// The value is never repeated: it might be a whole key pasted by mistake.
		if _, err := credential.Parse(keyID); err == nil {
			return revoke.AdminRequest{}, errors.New("--key takes the key's id, not the key itself (a secret): the id is the part after the environment, k and 20 letters and digits")
		}
		if _, err := credential.ParseKeyID(keyID); err != nil {
			return revoke.AdminRequest{}, errors.New("--key is not a key id (k and 20 lowercase letters and digits)")
		}
	}
	if err := revoke.CheckNote(note); err != nil {
		return revoke.AdminRequest{}, fmt.Errorf("--%w", err)
	}
	if reissue && !all && !revoke.RevokesEveryKey(reason) {
		return revoke.AdminRequest{}, errors.New("--reissue comes only with the revocation of every key: give --all, or --reason compromised or leaked")
	}
	return revoke.AdminRequest{KeyID: keyID, All: all, Reason: reason, Note: note, Reissue: reissue}, nil
}

func printRevocation(w io.Writer, r adminRevocation) {
	list := func(ids []string) string {
		if len(ids) == 0 {
			return "none"
		}
		return strings.Join(ids, ", ")
	}
	rows := [][2]string{{"Partner", r.PartnerID}, {"Reason", r.Reason}}
	if r.RevocationID == "" {
		rows = append(rows, [2]string{"Revocation", "none: nothing left to revoke"})
	} else {
		rows = append(rows, [2]string{"Revocation", r.RevocationID}, [2]string{"Revoked at", r.RevokedAt})
	}
	rows = append(rows, [2]string{"Revoked", list(r.KeyIDs)}, [2]string{"Already ended", list(r.AlreadyEnded)})
	if p := r.Replacement; p != nil {
		rows = append(rows, [2]string{"Replacement", p.ReplacementID}, [2]string{"Replacement key", p.KeyID},
			[2]string{"Pick-up token", p.PickupToken + "   (shown once; stored only as its SHA-256)"}, [2]string{"Pick up before", p.ExpiresAt})
	}
	for _, row := range rows {
		_, _ = fmt.Fprintf(w, "%s\t%s\n", row[0], oneLine(row[1], 2000))
	}
}
