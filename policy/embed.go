// Package policy carries Lanyard's partner credential policy, policy.json, and its JSON Schema,
// policy.schema.json, into the binaries that read them. It holds the bytes only: parsing,
// validation and the domain helpers live in shared/domain/policy, which is what functions import.
package policy

import _ "embed" // the files below are compiled in

var (
	//go:embed policy.json
	policyJSON string

	//go:embed policy.schema.json
	schemaJSON string
)

// JSON returns the production policy, policy.json, as committed.
func JSON() []byte { return []byte(policyJSON) }

// Schema returns the JSON Schema (draft 2020-12) that policy.json is validated against.
func Schema() []byte { return []byte(schemaJSON) }
