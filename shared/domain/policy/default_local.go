//go:build lanyardlocal

package policy

import policyfile "github.com/lanyardhq/lanyard/policy"

// localOverlay is the local overlay this build carries: policy/local.json, in `lanyard
// local`'s builds (LocalBuildTag) only.
func localOverlay() []byte { return policyfile.LocalJSON() }
