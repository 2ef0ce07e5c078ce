package credential_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

var refusalMessages = credential.RefusalMessages()

// isRefusal reports whether err is a fixed refusal, possibly behind the "bearer token: " context
// FromAuthorizationHeader adds to Parse's errors.
func isRefusal(err error) bool {
	if err == nil {
		return false
	}
	return refusalMessages[err.Error()] || refusalMessages[strings.TrimPrefix(err.Error(), "bearer token: ")]
}

// safe is err for a failure message: its text when it is a fixed refusal (which holds no input),
// otherwise a placeholder, since an error that is not a fixed refusal may hold a key and secrets
// never reach a test failure message.
func safe(err error) string {
	switch {
	case err == nil:
		return "no error"
	case isRefusal(err):
		return err.Error()
	default:
		return "an error that is not a fixed refusal (not printed)"
	}
}

// checkRefusal fails unless err is a fixed refusal.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if !isRefusal(err) {
		t.Errorf("%s", safe(err))
	}
}

func TestFromAuthorizationHeader(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvLive).Plaintext().Reveal()
	bad := changed(k, len(k)-1)
	tests := []struct {
		name   string
		header string
		want   error // nil: accepted
	}{
		{"Bearer", "Bearer " + k, nil},
		{"lowercase scheme", "bearer " + k, nil},
		{"uppercase scheme", "BEARER " + k, nil},
		{"mixed-case scheme", "bEaReR " + k, nil},
		{"several spaces", "Bearer    " + k, nil},
		{"trailing spaces and tabs", "Bearer " + k + " \t ", nil},
		{"leading space", "  Bearer " + k, nil},

		{"empty", "", credential.ErrNoCredentials},
		{"only whitespace", " \t ", credential.ErrNoCredentials},
		{"scheme alone", "Bearer", credential.ErrNoCredentials},
		{"scheme and spaces", "Bearer    ", credential.ErrNoCredentials},
		{"key without scheme", k, credential.ErrUnsupportedScheme},
		{"Basic", "Basic dXNlcjpwYXNz", credential.ErrUnsupportedScheme},
		{"Token scheme", "Token " + k, credential.ErrUnsupportedScheme},
		{"scheme with a colon", "Bearer: " + k, credential.ErrUnsupportedScheme},
		{"tab after the scheme", "Bearer\t" + k, credential.ErrUnsupportedScheme},
		{"Bearerish", "Bearers " + k, credential.ErrUnsupportedScheme},
		{"two keys", "Bearer " + k + " " + k, credential.ErrMalformed},
		{"key and comma", "Bearer " + k + ",", credential.ErrMalformed},
		{"trailing newline", "Bearer " + k + "\n", credential.ErrMalformed},
		{"truncated key", "Bearer " + k[:len(k)-1], credential.ErrMalformed},
		{"quoted key", `Bearer "` + k + `"`, credential.ErrMalformed},
		{"wrong checksum", "Bearer " + bad, credential.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := credential.FromAuthorizationHeader(tt.header)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %s", safe(err))
				}
				if got.Plaintext().Reveal() != k {
					t.Fatalf("read a different key")
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %s, want %v", safe(err), tt.want)
			}
			checkRefusal(t, err)
			if !got.IsZero() {
				t.Fatalf("returned a key with its error")
			}
		})
	}
}

func TestFromHeaders(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvTest).Plaintext().Reveal()
	other := generate(t, credential.EnvTest).Plaintext().Reveal()
	tests := []struct {
		name    string
		headers map[string]string
		want    error
	}{
		{"canonical name", map[string]string{"Authorization": "Bearer " + k, "Host": "api.example.com"}, nil},
		{"lowercase name", map[string]string{"authorization": "Bearer " + k}, nil},
		{"uppercase name", map[string]string{"AUTHORIZATION": "Bearer " + k}, nil},
		{"nil", nil, credential.ErrNoCredentials},
		{"none", map[string]string{"Host": "api.example.com"}, credential.ErrNoCredentials},
		{"lookalike name", map[string]string{"X-Authorization": "Bearer " + k, "Authorization-Token": "Bearer " + k}, credential.ErrNoCredentials},
		{"empty value", map[string]string{"Authorization": ""}, credential.ErrNoCredentials},
		{"two spellings", map[string]string{"Authorization": "Bearer " + k, "authorization": "Bearer " + other}, credential.ErrDuplicateHeader},
		{"two spellings, same value", map[string]string{"Authorization": "Bearer " + k, "authorization": "Bearer " + k}, credential.ErrDuplicateHeader},
		{"not Bearer", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, credential.ErrUnsupportedScheme},
		{"malformed", map[string]string{"Authorization": "Bearer " + k[1:]}, credential.ErrMalformed},
	}
	for _, tt := range tests {
		got, err := credential.FromHeaders(tt.headers)
		check(t, tt.name, k, got, err, tt.want)
	}
}

func TestFromMultiValueHeaders(t *testing.T) {
	t.Parallel()
	k := generate(t, credential.EnvTest).Plaintext().Reveal()
	other := generate(t, credential.EnvTest).Plaintext().Reveal()
	tests := []struct {
		name    string
		headers map[string][]string
		want    error
	}{
		{"one value", map[string][]string{"Authorization": {"Bearer " + k}, "Accept": {"a", "b"}}, nil},
		{"lowercase name", map[string][]string{"authorization": {"Bearer " + k}}, nil},
		{"nil", nil, credential.ErrNoCredentials},
		{"no values", map[string][]string{"Authorization": {}}, credential.ErrNoCredentials},
		{"two values", map[string][]string{"Authorization": {"Bearer " + other, "Bearer " + k}}, credential.ErrDuplicateHeader},
		{"two spellings", map[string][]string{"Authorization": {"Bearer " + k}, "AUTHORIZATION": {"Bearer " + k}}, credential.ErrDuplicateHeader},
		{"not Bearer", map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}}, credential.ErrUnsupportedScheme},
	}
	for _, tt := range tests {
		got, err := credential.FromMultiValueHeaders(tt.headers)
		check(t, tt.name, k, got, err, tt.want)
	}
}

func check(t *testing.T, name, key string, got credential.Key, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil || got.Plaintext().Reveal() != key {
			t.Errorf("%s: refused or read a different key: %s", name, safe(err))
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: error %s, want %v", name, safe(err), want)
		return
	}
	checkRefusal(t, err)
	if !got.IsZero() {
		t.Errorf("%s: returned a key with its error", name)
	}
}
