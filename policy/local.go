//go:build lanyardlocal

package policy

import _ "embed" // the file below is compiled in, in local builds only

//go:embed local.json
var localJSON string

// LocalJSON returns the local overlay, local.json: allow-list entries for `lanyard local`
// (LocalStack's accounts). Only builds with the lanyardlocal build tag (`make build-local`)
// have it; a Lambda build does not, and scripts/build.sh fails one that would.
func LocalJSON() []byte { return []byte(localJSON) }
