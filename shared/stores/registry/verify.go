package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// Lookup reads a key's registry entry; an unknown key id is an error matching ErrNotFound.
// *Store is one; a cache in front of a Store can be another.
type Lookup interface {
	Get(ctx context.Context, id credential.KeyID) (Entry, error)
}

var _ Lookup = (*Store)(nil)

// ErrMismatch is Verify's error for a key whose secret does not match the verifier registered
// under its key id: a forged or mangled key.
var ErrMismatch = errors.New("the key does not match its registry entry")

// Verdict is Verify's answer about a genuine key: the entry it matched, and whether the entry
// accepts the key now with the reason (one of the Reason constants, safe to log).
type Verdict struct {
	Entry    Entry
	Accepted bool
	Reason   string
}

// Verify checks a parsed key (credential.Parse has checked its grammar and checksum) against
// the registry as the verify path does: it reads the entry of the key's id through lookup,
// compares the key's SHA-256 with the entry's verifier in constant time
// (credential.Verifier.Matches), and asks the entry whether it accepts the key at now
// (Entry.Accepts). With acceptPending a pending key is accepted too, with ReasonPending, when
// it is within its validity window as it will be once active: that is rotation's testSecret
// proving a key it registered will verify before it is made active. The authorizer never
// accepts a pending key.
//
// An unknown key id is an error matching ErrNotFound; a key whose secret does not match,
// ErrMismatch; a failed read, that read's error. A genuine key that is not accepted is not an
// error: the Verdict says why. No error contains the key or the verifier.
func Verify(ctx context.Context, lookup Lookup, key credential.Key, now time.Time, acceptPending bool) (Verdict, error) {
	if key.IsZero() {
		return Verdict{}, fmt.Errorf("verify: no key: %w", ErrMismatch)
	}
	e, err := lookup.Get(ctx, key.ID())
	if err != nil {
		return Verdict{}, fmt.Errorf("verify key %s: %w", key.ID(), err)
	}
	if !e.Verifier.Matches(key) {
		return Verdict{}, fmt.Errorf("verify key %s: %w", key.ID(), ErrMismatch)
	}
	if acceptPending && e.Status == StatusPending {
		// Accepted as it will be once active: within its validity window.
		asActive := e
		asActive.Status = StatusActive
		if ok, reason := asActive.Accepts(now); !ok {
			return Verdict{Entry: e, Reason: reason}, nil
		}
		return Verdict{Entry: e, Accepted: true, Reason: ReasonPending}, nil
	}
	ok, reason := e.Accepts(now)
	return Verdict{Entry: e, Accepted: ok, Reason: reason}, nil
}

// ErrMalformed is VerifyToken's error for a token that is not a key: credential.Parse refused
// its grammar or checksum, before any read.
var ErrMalformed = errors.New("the token is not a well-formed key")

// VerifyToken is Verify for a token as a client sent it, the one path every route that is
// handed a key to judge (revocation, introspection) takes: the token is parsed
// (credential.Parse: grammar and checksum, no I/O), then the key is matched by its full
// verifier in constant time and judged at now (Verify, no pending key accepted). A token that
// is not a key is an error matching ErrMalformed; otherwise the errors are Verify's, and the
// Verdict names the key id even then (key ids are public). No error contains the token.
func VerifyToken(ctx context.Context, lookup Lookup, token string, now time.Time) (Verdict, error) {
	// credential.Parse's errors are fixed messages: they never contain the token.
	key, err := credential.Parse(token)
	if err != nil {
		return Verdict{}, fmt.Errorf("verify token: %w", ErrMalformed)
	}
	v, err := Verify(ctx, lookup, key, now, false)
	if err != nil {
		return Verdict{Entry: Entry{KeyID: key.ID()}}, err
	}
	return v, nil
}
