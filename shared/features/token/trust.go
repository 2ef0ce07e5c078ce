package token

import (
	"encoding/json"
	"fmt"
)

// TrustPolicy is the partner-access role's trust policy for the token function's role,
// principalARN: that principal alone may assume the role, only for a session tagged partner,
// and may set no session tags but partner and key, none of them transitive. `lanyard local`
// creates the role with it; infra's construct (NewPartnerAccess) builds the same statements,
// and its test holds the two equal.
func TrustPolicy(principalARN string) (string, error) {
	principal := map[string]any{"AWS": principalARN}
	partnerTag := "aws:RequestTag/" + TagPartner
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{
			map[string]any{
				"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole",
				"Condition": map[string]any{"Null": map[string]any{partnerTag: "false"}},
			},
			map[string]any{
				"Effect": "Allow", "Principal": principal, "Action": "sts:TagSession",
				"Condition": map[string]any{
					"Null":                      map[string]any{partnerTag: "false", "sts:TransitiveTagKeys": "true"},
					"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{TagKey, TagPartner}},
				},
			},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("trust policy: %w", err)
	}
	return string(b), nil
}
