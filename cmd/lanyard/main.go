// Command lanyard is the ops CLI. Today it reports its version; the local runtime and the
// lifecycle commands are wired here as they land.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/lanyardhq/lanyard/shared/buildinfo"
)

const usage = `lanyard — operate Lanyard partner credentials

Usage:
  lanyard version    print the build version
  lanyard help       print this help
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		_, _ = fmt.Fprintf(stdout, "lanyard %s\n", buildinfo.Version)
		return 0
	case "help", "--help", "-h":
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	default:
		_, _ = fmt.Fprintf(stderr, "lanyard: unknown command %q (see lanyard help)\n", args[0])
		return 2
	}
}
