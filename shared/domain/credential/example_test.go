package credential_test

import (
	"errors"
	"fmt"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// Issuing a key: mint it, store its verifier in the registry under its id, put the plaintext in
// Secrets Manager and show it to the partner once.
func ExampleGenerate() {
	k, err := credential.Generate(credential.EnvLive, nil) // crypto/rand
	if err != nil {
		fmt.Println(err)
		return
	}
	stored := credential.NewVerifier(k).Encode() // the registry item: id → verifier
	fmt.Println(len(k.Plaintext().Reveal()), len(stored), k.ID() != "")
	fmt.Printf("%v\n", k.Plaintext()) // plaintext never prints by accident
	// Output:
	// 70 71 true
	// [redacted]
}

// Authorizing a request: read the key from the header, refuse malformed keys before any I/O,
// look the key id up, compare in constant time.
func ExampleFromAuthorizationHeader() {
	registry := map[credential.KeyID]string{} // key id → stored verifier
	k, _ := credential.Generate(credential.EnvLive, nil)
	registry[k.ID()] = credential.NewVerifier(k).Encode()

	authorize := func(header string) error {
		k, err := credential.FromAuthorizationHeader(header)
		if err != nil {
			return fmt.Errorf("read key: %w", err) // no I/O happened
		}
		if k.Env() != credential.EnvLive {
			return fmt.Errorf("key %s is for %s", k.ID(), k.Env())
		}
		v, err := credential.ParseVerifier(registry[k.ID()])
		if err != nil || !v.Matches(k) {
			return fmt.Errorf("key %s does not verify", k.ID())
		}
		return nil
	}

	fmt.Println(authorize("Bearer " + k.Plaintext().Reveal()))
	err := authorize("Bearer lnyd_live_kaaaaaaaaaaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000")
	fmt.Println(err, errors.Is(err, credential.ErrChecksum))
	fmt.Println(authorize("Basic dXNlcjpwYXNz"))
	// Output:
	// <nil>
	// read key: bearer token: key checksum mismatch true
	// read key: unsupported authorization scheme: want Bearer
}
