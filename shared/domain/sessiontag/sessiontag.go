// Package sessiontag names the session tags of every partner session the token exchange opens
// in the partner-access role. The token exchange sets them, the role's trust policy (infra/)
// requires them, and revocation's deny keys on them; so they live here, below all three. Tag
// keys are case-insensitive in IAM; these are the spellings conditions use
// (aws:PrincipalTag/partner, aws:RequestTag/partner).
package sessiontag

const (
	// Partner carries the partner id: what revocation's deny keys on.
	Partner = "partner"
	// Key carries the id of the key the session was exchanged for.
	Key = "key"
)
