// Package invite issues and checks the one-time invite codes ops hand to partners, with which a
// partner onboards (POST /v1/partners) into the tier the invite names.
//
// # The code
//
// An invite code is "lnyd_inv_" and 43 base62 characters drawn from crypto/rand (256 bits). It
// is a secret: it lives in a secret.Value, is shown once (in the answer to POST
// /v1/admin/invites) and is never stored. The table keeps its Hash, the SHA-256 of the whole
// code, so a code is looked up by hashing it; a high-entropy code needs a fast hash, not a
// password hash.
//
// # The table
//
// Package stores/invites keeps the invites table (its item, the put of a new invite and the
// redeem item onboarding puts into its transaction); this package decides what goes into it.
//
// # One use
//
// An invite works while it is issued and now is before expiresAt. Store.Lookup checks it for
// onboarding; Redeem is the Update onboarding puts into its transaction, conditioned on the
// same rule, so two onboardings with one code cannot both commit and an invite that expired
// between the lookup and the commit is refused by DynamoDB itself.
package invite

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/invites"
)

// CodePrefix starts every invite code; secret scanners can match it.
const CodePrefix = "lnyd_inv_"

// codeChars is how many base62 characters follow the prefix: 43 of them hold
// 43·log2(62) ≈ 256.03 bits.
const codeChars = 43

// CodeLength is the length of an invite code.
const CodeLength = len(CodePrefix) + codeChars

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// IDPrefix starts every invite id.
const IDPrefix = "inv-"

// PartitionKey is the key attribute of the invites table.
const PartitionKey = invites.PartitionKey

// Invite is one invite as the table holds it: everything but the code.
type Invite = invites.Invite

// Status is the state of an invite.
type Status = invites.Status

// The states of an invite.
const (
	StatusIssued   = invites.StatusIssued
	StatusRedeemed = invites.StatusRedeemed
)

// NewCode returns a new invite code: CodePrefix and 43 base62 characters from crypto/rand.
func NewCode() secret.Value {
	var b strings.Builder
	b.Grow(CodeLength)
	b.WriteString(CodePrefix)
	buf := make([]byte, 64)
	for b.Len() < CodeLength {
		_, _ = rand.Read(buf) // never fails (crypto/rand.Read crashes the program instead)
		for _, c := range buf {
			// 248 = 4·62: rejecting larger bytes keeps every character equally likely.
			if c < 248 && b.Len() < CodeLength {
				b.WriteByte(base62[c%62])
			}
		}
	}
	return secret.New(b.String())
}

// WellFormed reports whether code has the shape NewCode gives. Lookup refuses any other code
// without reading the table.
func WellFormed(code secret.Value) bool {
	rest, ok := strings.CutPrefix(code.Reveal(), CodePrefix)
	if !ok || len(rest) != codeChars {
		return false
	}
	for i := range len(rest) {
		if strings.IndexByte(base62, rest[i]) < 0 {
			return false
		}
	}
	return true
}

// Hash returns what the table stores of a code: "sha256:" and the lowercase hex SHA-256 of the
// whole code.
func Hash(code secret.Value) string {
	sum := sha256.Sum256([]byte(code.Reveal()))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// NewID returns a new invite id: IDPrefix and 26 lowercase base32 characters (128 bits) from
// crypto/rand.
func NewID() string { return IDPrefix + strings.ToLower(rand.Text()) }

// ErrInvalid is the one answer for an invite code that cannot be used: unknown, malformed,
// already redeemed or expired. Callers answer problem.InviteInvalid whichever it was.
var ErrInvalid = errors.New("invite invalid")

// InvalidError is the ErrInvalid Lookup returns, with the reason — for the log only: the
// client is never told which it was.
type InvalidError struct {
	// Reason is "malformed", "unknown", "redeemed" or "expired".
	Reason string
	// InviteID names the invite when the code was found.
	InviteID string
}

func (e *InvalidError) Error() string {
	if e.InviteID == "" {
		return "invite invalid: " + e.Reason
	}
	return "invite " + e.InviteID + " invalid: " + e.Reason
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }
