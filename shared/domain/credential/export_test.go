package credential

// RefusalMessages is the message of every error this package returns for bad input: the tests
// check each error they see is one of them, which proves no error carries its input.
func RefusalMessages() map[string]bool {
	m := make(map[string]bool, len(refusals))
	for _, r := range refusals {
		m[r.msg] = true
	}
	return m
}

// The secret part of a key, as offsets.
const (
	SecretStart = secretStart
	SecretEnd   = secretEnd
)
