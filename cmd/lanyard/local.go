package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/local/rotation"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/topology"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newLocalCmd(out *output) *cobra.Command {
	opts := suite.Options{}
	var showTraces, once bool
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the whole suite on this machine against LocalStack and DynamoDB Local",
		Long: "local provisions the declared topology into LocalStack and DynamoDB Local (idempotently),\n" +
			"then serves the REST API like API Gateway, polls the tables' streams into their consumers\n" +
			"and collects the functions' traces, until interrupted. Start the servers first with\n" +
			"`make local-up` (or run everything with `make dev`); build the functions with `make build-local`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Topology = topology.Lanyard()
			opts.Logger = logging.NewJSON(cmd.ErrOrStderr(), logging.ParseLevel(os.Getenv("LANYARD_LOG_LEVEL")))
			if lvl := os.Getenv("LANYARD_LOG_LEVEL"); lvl != "" {
				opts.FunctionEnv = map[string]string{"LANYARD_LOG_LEVEL": lvl}
			}
			return runLocal(cmd.Context(), opts, out, showTraces, once)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&opts.Prefix, "prefix", "lanyard", "name prefix of every local resource")
	pf.StringVar(&opts.LocalStackURL, "localstack", "http://127.0.0.1:"+envOr("LANYARD_LOCALSTACK_PORT", "4566"), "LocalStack endpoint")
	pf.StringVar(&opts.DynamoDBURL, "dynamodb", "http://127.0.0.1:"+envOr("LANYARD_DYNAMODB_PORT", "8000"), "DynamoDB Local endpoint")
	f := cmd.Flags()
	f.StringVar(&opts.CodeDir, "code-dir", "bin/local", "folder of the function zips built by `make build-local`")
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:4510", "address of the local API front")
	f.StringVar(&opts.XRayListen, "xray-listen", "127.0.0.1:2000", "address of the local trace collector (the functions' AWS_XRAY_DAEMON_ADDRESS)")
	f.DurationVar(&opts.RotationDay, "rotation-day", 24*time.Hour, "how long a rotation day lasts: 1s rotates a secret due every N days every N seconds (demos, tests)")
	f.DurationVar(&opts.AuditWindow, "audit-window", time.Minute, "the audit export's window: each closed window of the trail is exported to the audit bucket, signed (whole seconds; the policy's audit.exportWindow is an hour)")
	f.DurationVar(&opts.RotationInterval, "rotation-interval", rotation.DefaultInterval, "how often to look for secrets due for rotation")
	f.BoolVar(&showTraces, "traces", false, "print the id of every trace the functions send, as it arrives")
	f.BoolVar(&once, "once", false, "provision, print what changed, and exit")
	cmd.AddCommand(&cobra.Command{
		Use:   "down",
		Short: "Remove the local deployment: print each resource removed, and what AWS keeps on purpose",
		Long: "down removes what `lanyard local` provisioned under --prefix, and what its functions created\n" +
			"(partner secrets, partner API keys), from LocalStack and DynamoDB Local. Stop `lanyard local`\n" +
			"first. The KMS key can only be scheduled for deletion, seven days at least: it is listed as kept.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Topology = topology.Lanyard()
			td, err := suite.Down(cmd.Context(), opts)
			if td != nil {
				if err := out.emit(td, func(w io.Writer) { suite.RenderDown(w, td) }); err != nil {
					return err
				}
			}
			return err
		},
	})
	return cmd
}

func runLocal(ctx context.Context, opts suite.Options, out *output, showTraces, once bool) error {
	s, err := suite.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.Close(shutdown); err != nil {
			opts.Logger.Warn("stopping the local suite", "error", err)
		}
	}()

	sum := s.Summary(opts.Topology)
	if err := out.emit(sum, func(w io.Writer) { sum.Render(w, once) }); err != nil {
		return err
	}
	if once {
		return nil
	}

	var tracesCh <-chan any
	if showTraces {
		ch, cancel := s.Traces.Subscribe(64)
		defer cancel()
		relay := make(chan any)
		go func() {
			defer close(relay)
			for seg := range ch {
				relay <- seg.TraceID + " " + seg.Name
			}
		}()
		tracesCh = relay
	}
	for {
		select {
		case <-ctx.Done():
			_, _ = fmt.Fprintln(out.w, "stopping")
			return nil
		case err := <-s.Err():
			return err
		case t, ok := <-tracesCh:
			if ok {
				_, _ = fmt.Fprintf(out.w, "trace %v\n", t)
			}
		}
	}
}
