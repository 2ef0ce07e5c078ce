package api_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/api"
)

// An onboarding names exactly one identity proof; the refusal says so in one line, whichever
// way the body fails it, and the pick-up token's pattern is worded.
func TestValidateBodyOnboardingAlternatives(t *testing.T) {
	t.Parallel()
	idreq := map[string]any{"method": "POST", "url": "https://sts.eu-west-1.amazonaws.com/",
		"headers": map[string]any{"X-Amz-Date": []string{"20261123T120000Z"}}, "body": "Action=GetCallerIdentity&Version=2011-06-15"}
	tests := []struct {
		name string
		op   string
		body []byte
		want []string
	}{
		{"neither proof", api.OpCreatePartner, body(t, validPartner, map[string]any{"inviteCode": nil}),
			[]string{"(body): must hold exactly one of inviteCode and identityRequest"}},
		{"both proofs", api.OpCreatePartner, body(t, validPartner, map[string]any{"identityRequest": idreq}),
			[]string{"(body): must hold exactly one of inviteCode and identityRequest"}},
		{"neither proof nor name", api.OpCreatePartner, body(t, validPartner, map[string]any{"inviteCode": nil, "partnerName": nil}),
			[]string{"(body): must hold exactly one of inviteCode and identityRequest", "/partnerName: is required"}},
		{"identity request malformed", api.OpCreatePartner, body(t, validPartner, map[string]any{"inviteCode": nil,
			"identityRequest": map[string]any{"method": "GET", "url": "https://x/", "headers": map[string]any{"Host": []string{}}, "body": ""}}),
			[]string{"/identityRequest/headers/Host: must hold at least 1 item", "/identityRequest/method: must be one of: POST"}},
		{"pick-up token malformed", api.OpPickUpOnboarding, []byte(`{"pickupToken":"lnyd_pku_short"}`),
			[]string{`/pickupToken: must be a pick-up token: "lnyd_pku_" and 43 letters and digits`}},
		{"empty reason", api.OpDenyOnboarding, []byte(`{"reason":""}`),
			[]string{"/reason: must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := api.ValidateBody(tt.op, tt.body)
			var be *api.BodyError
			if !errors.As(err, &be) {
				t.Fatalf("error %v, want a *BodyError", err)
			}
			if got := strings.Split(be.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
		})
	}
	ok := body(t, validPartner, map[string]any{"inviteCode": nil, "identityRequest": idreq})
	if err := api.ValidateBody(api.OpCreatePartner, ok); err != nil {
		t.Errorf("an identity request onboarding is refused: %v", err)
	}
}
