// Package buildinfo carries the version stamped into every Lanyard binary at link time.
package buildinfo

// Version is set by the build with -ldflags "-X github.com/lanyardhq/lanyard/shared/platform/buildinfo.Version=…".
// It stays "dev" in `go run` and `go test`.
var Version = "dev"
