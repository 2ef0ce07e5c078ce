package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// LocalBuildTag is the build tag of `lanyard local`'s function builds (`make build-local`).
// Only a binary built with it carries the local overlay, policy/local.json, and Default adds
// the overlay's allow-list entries to the production policy. A Lambda build never has it, so no
// configuration a deployed function can be given widens its allow-list.
const LocalBuildTag = "lanyardlocal"

// reservedAccounts are account ids no production policy may allow-list: LocalStack's, which
// every LocalStack answers GetCallerIdentity with, and the example ids of AWS's documentation,
// which a copied example would bring in.
var reservedAccounts = map[string]string{
	"000000000000": "LocalStack's account",
	"123456789012": "an example account id of AWS's documentation",
	"111122223333": "an example account id of AWS's documentation",
}

// Overlay is the local overlay, policy/local.json: allow-list entries that only `lanyard
// local`'s builds add to the production policy (see LocalBuildTag). It can add accounts and
// nothing else.
type Overlay struct {
	// Description says what the overlay is for, for reviewers.
	Description string `json:"description"`
	// Accounts are allow-list entries, checked like the policy's own (WithOverlay).
	Accounts []Account `json:"accounts"`

	digest string
}

// ParseOverlay reads an overlay file: JSON without repeated keys or unknown fields, with a
// description and at least one account. Its entries are checked against a policy by
// WithOverlay.
func ParseOverlay(b []byte) (*Overlay, error) {
	var ps problems
	ps = append(ps, repeatedKeys(b)...)
	if len(ps) > 0 {
		return nil, ps.err()
	}
	o := &Overlay{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(o); err != nil {
		ps.add("/", "not an overlay ({\"description\": …, \"accounts\": […]}, no other field): %v", err)
		return nil, ps.err()
	}
	if dec.More() {
		ps.add("/", "more than one JSON value")
		return nil, ps.err()
	}
	if strings.TrimSpace(o.Description) == "" {
		ps.add("/description", "required: what the overlay is for")
	}
	if len(o.Accounts) == 0 {
		ps.add("/accounts", "adds no account")
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	o.digest = "sha256:" + hex.EncodeToString(sum[:])
	return o, nil
}

// WithOverlay returns a copy of p whose allow-list also holds o's entries, each checked as
// p's own are (an account p lists already is refused). Problems point into the overlay
// (/accounts/<i>/…). The copy's digest covers p's digest and the overlay's bytes.
func (p *Policy) WithOverlay(o *Overlay) (*Policy, error) {
	tiers := map[string]bool{}
	for _, t := range p.Tiers {
		tiers[t.Name] = true
	}
	seen := map[string]bool{}
	for _, a := range p.Accounts {
		seen[a.AccountID] = true
	}
	var ps problems
	checkAccounts(&ps, o.Accounts, 0, seen, tiers)
	if err := ps.err(); err != nil {
		return nil, err
	}
	c := p.clone()
	for _, a := range o.Accounts {
		c.Accounts = append(c.Accounts, a.clone())
	}
	sum := sha256.Sum256([]byte(p.digest + "\n" + o.digest))
	c.digest = "sha256:" + hex.EncodeToString(sum[:])
	return c, nil
}

// CheckProduction refuses a production policy that allow-lists an account only a local or
// example setup has: LocalStack's 000000000000, the example ids of AWS's documentation, and
// every account of the overlays given (the local overlay's). Problems point into the policy.
func CheckProduction(p *Policy, overlays ...*Overlay) error {
	local := map[string]bool{}
	for _, o := range overlays {
		for _, a := range o.Accounts {
			local[a.AccountID] = true
		}
	}
	var ps problems
	for i, a := range p.Accounts {
		at := fmt.Sprintf("/accounts/%d/accountId", i)
		if why, ok := reservedAccounts[a.AccountID]; ok {
			ps.add(at, "%s is %s: the production policy never allow-lists it (lanyard local's accounts belong in policy/local.json)", a.AccountID, why)
		} else if local[a.AccountID] {
			ps.add(at, "%s is an account of the local overlay: the production policy never allow-lists it", a.AccountID)
		}
	}
	return ps.err()
}

// ReservedAccounts returns the account ids CheckProduction always refuses, sorted.
func ReservedAccounts() []string {
	ids := make([]string, 0, len(reservedAccounts))
	for id := range reservedAccounts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
