// Command lanyard is the ops CLI: wiring only. Each command lives in its own file; the work is
// done by packages under shared/ and local/.
//
// It uses cobra: nested commands with generated --help on each, and flags shared down the
// tree (--output), which the standard library's flag package would have us rebuild by hand.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors in how the command was called (exit status 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// run executes the CLI and returns the exit status. Errors are one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout) //nolint:contextcheck // cobra hands ctx to each command as cmd.Context()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if err := root.ExecuteContext(ctx); err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		_, _ = fmt.Fprintf(stderr, "lanyard: %s\n", msg)
		var u usageError
		if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") {
			return 2
		}
		return 1
	}
	return 0
}

func newRoot(stdout io.Writer) *cobra.Command {
	out := &output{w: stdout, format: "table"}
	root := &cobra.Command{
		Use:   "lanyard",
		Short: "Operate Lanyard partner credentials",
		Long: "lanyard operates Lanyard: the partner-credential lifecycle suite.\n" +
			"Run `lanyard local` to run the whole suite on this machine against LocalStack and DynamoDB Local.",
		PersistentPreRunE: func(*cobra.Command, []string) error { return out.check() },
		Args:              cobra.NoArgs,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.PersistentFlags().StringVarP(&out.format, "output", "o", "table", "output format: table or json")
	root.AddCommand(newVersionCmd(out), newLocalCmd(out), newInviteCmd(out), newIdentityRequestCmd(out))
	root.AddCommand(newOnboardingCmd(out))
	root.AddCommand(newRotateCmd(out), newRotationCmd(out, awsRotationClients), newRevokeCmd(out))
	root.AddCommand(newRevocationCmd(out, awsRevocationClients))
	// The audit log: the saved queries, how far behind the outbox its writer is, and the
	// exported trail's verification.
	audit := newAuditCmd(out, awsAuditClients)
	audit.AddCommand(newAuditLagCmd(out, awsOutboxClients, time.Now))
	audit.AddCommand(newAuditVerifyCmd(out, awsTrailClients, time.Now))
	audit.AddCommand(newAuditHistoryCmd(out, awsOutboxClients, awsTrailClients, time.Now))
	root.AddCommand(audit)
	return root
}
