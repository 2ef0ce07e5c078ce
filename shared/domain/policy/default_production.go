//go:build !lanyardlocal

package policy

// localOverlay is the local overlay this build carries: none. Only `lanyard local`'s builds
// (LocalBuildTag) carry one.
func localOverlay() []byte { return nil }
