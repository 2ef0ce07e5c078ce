// Command policycheck is the build gate for the partner credential policy: it parses each
// policy file named on the command line exactly as the functions parse the embedded one
// (schema, then semantic checks), refuses a production policy that allow-lists LocalStack's
// account, an example account id of AWS's documentation or an account of the local overlay,
// and prints one line per problem, "file: /pointer: message". With -overlay it also checks
// that the local overlay (policy/local.json, which only `lanyard local`'s builds carry) applies
// to each policy. It exits 1 if any file is invalid and 2 on a usage error, so a bad policy
// fails the build, not a request.
//
//	go run ./policy/cmd/policycheck -overlay policy/local.json policy/policy.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

const usage = "usage: policycheck [-overlay LOCAL.json] FILE...  (validates Lanyard policy files; one line per problem)"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policycheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	overlayFile := fs.String("overlay", "", "the local overlay to check against each policy (policy/local.json)")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "policycheck: %v\n", err)
		}
		fmt.Fprintln(stderr, usage)
		return 2
	}
	status := 0
	var overlay *policy.Overlay
	if *overlayFile != "" {
		o, ok := read(*overlayFile, policy.ParseOverlay, stderr)
		if !ok {
			status = 1
		}
		overlay = o
	}
	for _, name := range fs.Args() {
		p, ok := read(name, policy.Parse, stderr)
		if !ok {
			status = 1
			continue
		}
		overlays := []*policy.Overlay{}
		if overlay != nil {
			overlays = append(overlays, overlay)
		}
		if !report(name, policy.CheckProduction(p, overlays...), stderr) {
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok: version %d, revision %d, %d tiers, %d allowed accounts, %s\n",
			name, p.Version, p.Revision, len(p.Tiers), len(p.Accounts), p.Digest())
		if overlay == nil {
			continue
		}
		merged, err := p.WithOverlay(overlay)
		if !report(*overlayFile, err, stderr) {
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "%s: ok: overlay of %s, %d allowed accounts in lanyard local's builds, %s\n",
			*overlayFile, name, len(merged.Accounts), merged.Digest())
	}
	return status
}

// read reads and parses the file name, reporting its problems.
func read[T any](name string, parse func([]byte) (T, error), stderr io.Writer) (T, bool) {
	var zero T
	b, err := os.ReadFile(name) //nolint:gosec // G304: reading the file the user names is the point
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return zero, false
	}
	v, err := parse(b)
	if !report(name, err, stderr) {
		return zero, false
	}
	return v, true
}

// report prints err's problems, one line each, prefixed with the file name; it says whether
// there were none.
func report(name string, err error, stderr io.Writer) bool {
	var invalid *policy.InvalidError
	switch {
	case err == nil:
		return true
	case errors.As(err, &invalid):
		for _, pr := range invalid.Problems {
			fmt.Fprintf(stderr, "%s: %s\n", name, pr)
		}
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	return false
}
