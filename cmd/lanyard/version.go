package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/platform/buildinfo"
)

func newVersionCmd(out *output) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return out.emit(map[string]string{"version": buildinfo.Version}, func(w io.Writer) {
				_, _ = fmt.Fprintf(w, "lanyard %s\n", buildinfo.Version)
			})
		},
	}
}
