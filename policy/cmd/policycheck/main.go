// Command policycheck is the build gate for the partner credential policy: it parses each
// policy file named on the command line exactly as the functions parse the embedded one
// (schema, then semantic checks) and prints one line per problem, "file: /pointer: message".
// It exits 1 if any file is invalid and 2 on a usage error, so a bad policy fails the build,
// not a request.
//
//	go run ./policy/cmd/policycheck policy/policy.json
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lanyardhq/lanyard/shared/policy"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: policycheck FILE...  (validates Lanyard policy files; one line per problem)")
		return 2
	}
	status := 0
	for _, name := range args {
		b, err := os.ReadFile(name) //nolint:gosec // G304: reading the file the user names is the point
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			status = 1
			continue
		}
		p, err := policy.Parse(b)
		var invalid *policy.InvalidError
		switch {
		case errors.As(err, &invalid):
			for _, pr := range invalid.Problems {
				fmt.Fprintf(stderr, "%s: %s\n", name, pr)
			}
			status = 1
		case err != nil:
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			status = 1
		default:
			fmt.Fprintf(stdout, "%s: ok: version %d, revision %d, %d tiers, %d allowed accounts, %s\n",
				name, p.Version, p.Revision, len(p.Tiers), len(p.Accounts), p.Digest())
		}
	}
	return status
}
