package credential

import (
	"errors"
	"strconv"
)

// The kinds of refusal, for errors.Is. Every error Parse returns matches ErrMalformed; those
// about the environment or the checksum also match ErrUnknownEnvironment or ErrChecksum.
var (
	ErrMalformed          = errors.New("malformed key")
	ErrUnknownEnvironment = errors.New("unknown environment")
	ErrChecksum           = errors.New("key checksum mismatch")
	ErrMalformedKeyID     = errors.New("malformed key id")
	ErrMalformedVerifier  = errors.New("malformed verifier")
	// ErrNoCredentials: no Authorization header, an empty one, or a Bearer scheme with no token.
	ErrNoCredentials = errors.New("no credentials")
	// ErrUnsupportedScheme: an Authorization header whose scheme is not Bearer.
	ErrUnsupportedScheme = errors.New("unsupported authorization scheme")
	// ErrDuplicateHeader: more than one Authorization header.
	ErrDuplicateHeader = errors.New("more than one Authorization header")
)

// refusal is an error with a fixed message that matches one or more kinds. Every refusal is a
// package variable, so no refusal can carry any part of the input that caused it, and returning
// one does not allocate.
type refusal struct {
	msg   string
	kinds []error
}

func (e *refusal) Error() string   { return e.msg }
func (e *refusal) Unwrap() []error { return e.kinds }

func refuse(kind error, reason string, also ...error) *refusal {
	msg := kind.Error()
	if reason != "" {
		msg += ": " + reason
	}
	return &refusal{msg: msg, kinds: append([]error{kind}, also...)}
}

// What Parse and its relatives return. refusals lists them all, for the tests that prove every
// error message is one of these.
var (
	errLength           = refuse(ErrMalformed, "wrong length, a key has "+strconv.Itoa(KeyLength)+" characters")
	errPrefix           = refuse(ErrMalformed, "does not start with "+Prefix+"_")
	errKeyEnvironment   = refuse(ErrUnknownEnvironment, "a key's environment is live, test or locl", ErrMalformed)
	errSeparator        = refuse(ErrMalformed, "separator missing")
	errKeyID            = refuse(ErrMalformed, "key id is not k and 20 base32 characters", ErrMalformedKeyID)
	errSecret           = refuse(ErrMalformed, "secret is not base62")
	errChecksumAlphabet = refuse(ErrMalformed, "checksum is not base62")
	errChecksum         = refuse(ErrChecksum, "", ErrMalformed)

	errEnvironment = refuse(ErrUnknownEnvironment, "want live, test or locl")
	errKeyIDOnly   = refuse(ErrMalformedKeyID, "want k and 20 base32 characters")
	errVerifier    = refuse(ErrMalformedVerifier, "want sha256: and 64 lowercase hex digits, not all zero")

	errNoHeader    = refuse(ErrNoCredentials, "no Authorization header")
	errEmptyHeader = refuse(ErrNoCredentials, "empty Authorization header")
	errEmptyBearer = refuse(ErrNoCredentials, "Bearer with no token")
	errScheme      = refuse(ErrUnsupportedScheme, "want Bearer")
	errDuplicate   = refuse(ErrDuplicateHeader, "")

	refusals = []*refusal{
		errLength, errPrefix, errKeyEnvironment, errSeparator, errKeyID, errSecret, errChecksumAlphabet, errChecksum,
		errEnvironment, errKeyIDOnly, errVerifier,
		errNoHeader, errEmptyHeader, errEmptyBearer, errScheme, errDuplicate,
	}
)
