package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/stores/audittrail"
	"github.com/lanyardhq/lanyard/topology"
)

// trailTarget says where the audit bucket is.
type trailTarget struct {
	Bucket        string
	Local         bool
	LocalStackURL string
}

// trailClients opens the trail of a target. Tests hand in one held in memory.
type trailClients func(ctx context.Context, t trailTarget) (audittrail.Trail, error)

// awsTrailClients: in AWS, the operator's credentials and region from the default chain;
// locally, LocalStack's endpoint (path-style addressing) with its test credentials.
func awsTrailClients(ctx context.Context, t trailTarget) (audittrail.Trail, error) {
	cfg, err := targetConfig(ctx, t.Local, t.LocalStackURL)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = t.Local })
	return &audittrail.S3Trail{S3: client, Bucket: t.Bucket}, nil
}

// exportDelay is the policy's audit.exportDelay: how long after a window's end the exporter
// exports it, the default of --delay.
func exportDelay() time.Duration {
	p, err := policy.Default()
	if err != nil {
		return 2 * time.Minute
	}
	return p.Audit.ExportDelay.Std()
}

// trailFlags are the flags `lanyard audit verify` and `history` share: the bucket in AWS, the
// pinned public key, and how late the trail's last window may be.
type trailFlags struct {
	bucket, publicKey string
	delay, slack      time.Duration
}

func (f *trailFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.bucket, "bucket", "", "the audit bucket's name (AWS)")
	fs.StringVar(&f.publicKey, "public-key", "", "a file with the signing key's public key: the trust anchor, pinned")
	fs.DurationVar(&f.delay, "delay", exportDelay(), "how long after a window's end the exporter exports it (policy audit.exportDelay)")
	fs.DurationVar(&f.slack, "slack", 5*time.Minute, "what the exporter's schedule and run may add to --delay")
}

// resolve checks the shared flags: prefix names a `lanyard local` deployment ("" in AWS),
// whose bucket it names instead of --bucket. It returns the bucket and the options of a
// verification as of now.
func (f *trailFlags) resolve(cmd *cobra.Command, prefix string, now time.Time) (string, audittrail.Options, error) {
	bucket := f.bucket
	switch {
	case prefix != "" && cmd.Flags().Changed("bucket"):
		return "", audittrail.Options{}, usageError{errors.New("--prefix names a `lanyard local` deployment's bucket: drop --bucket")}
	case prefix != "":
		bucket = topology.AuditBucketLocalName(prefix)
	case strings.TrimSpace(bucket) == "":
		return "", audittrail.Options{}, usageError{errors.New("--bucket is required (or --prefix for `lanyard local`)")}
	}
	if f.delay < 0 || f.slack < 0 {
		return "", audittrail.Options{}, usageError{errors.New("--delay and --slack are durations from 0 up")}
	}
	opts := audittrail.Options{Now: func() time.Time { return now }, Delay: f.delay, Slack: f.slack}
	var err error
	if opts.PublicKey, err = pinnedPublicKey(f.publicKey); err != nil {
		return "", audittrail.Options{}, err
	}
	return bucket, opts, nil
}

// auditVerifyFlags are `lanyard audit verify`'s flags.
type auditVerifyFlags struct {
	trailFlags
	prefix, from, to string
	target           trailTarget
}

// verifyView is `lanyard audit verify -o json`'s answer.
type verifyView struct {
	OK      bool                       `json:"ok"`
	Bucket  string                     `json:"bucket"`
	Windows []audittrail.WindowVerdict `json:"windows"`
	Summary audittrail.Summary         `json:"summary"`
}

func newAuditVerifyCmd(out *output, connect trailClients, now func() time.Time) *cobra.Command {
	var f auditVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify [--from T] [--to T] [--public-key FILE] (--bucket BUCKET | --prefix PREFIX)",
		Short: "Verify the exported audit trail: every manifest's signature and link, every object's digest, every chain",
		Long: "verify reads the audit bucket's manifests from the first and checks each one's signature with the trail's\n" +
			"trust anchor, its link to the manifest before, that its window follows the one before, and that its\n" +
			"chain ranges continue every chain. For the windows that overlap [--from, --to) (RFC 3339, or a duration\n" +
			"back from now such as 24h; by default all), it reads each object: its SHA-256, records and size against\n" +
			"the manifest, and each record in the manifest's order, linked to the one before, its hash recomputed.\n" +
			"The trail's last window must end no earlier than min(--to, now) less one window, --delay and --slack,\n" +
			"or the trail is cut short. It prints one line per window, then the trust anchor's fingerprint, and\n" +
			"exits 1 naming what failed and where when anything does not verify.\n\n" +
			"The trust anchor is the first manifest's public key. --public-key FILE (PEM, DER, or the base64 that\n" +
			"`aws kms get-public-key --query PublicKey --output text` prints) pins it: without it, a trail that an\n" +
			"administrator signed anew from its first manifest with another key verifies, and only the fingerprint\n" +
			"printed, compared with the one recorded, shows it.\n\n" +
			"It also lists every version of the trail's keys: the exporter writes each key once, so a key with a\n" +
			"second version or a delete marker was written again or deleted after its export — named even when\n" +
			"the rewrite was signed with the deployment's own key, which the signatures cannot tell.\n\n" +
			"It reads the bucket with the credentials and region of the default AWS configuration chain, which\n" +
			"need s3:ListBucket, s3:ListBucketVersions and s3:GetObject on it. In AWS, --bucket names it (the stack's audit bucket output).\n" +
			"For `lanyard local`, --prefix names its deployment instead (bucket PREFIX-audit,\n" +
			"LocalStack's endpoint and test credentials).",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("verify takes no argument, got %q", oneLine(args[0], 80))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.resolve(cmd, now)
			if err != nil {
				return err
			}
			trail, err := connect(cmd.Context(), f.target)
			if err != nil {
				return err
			}
			return runAuditVerify(cmd.Context(), out, cmd.ErrOrStderr(), f.target.Bucket, trail, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.prefix, "prefix", "", "the name prefix of a lanyard local deployment (e.g. lanyard): its bucket, in LocalStack")
	fs.StringVar(&f.target.LocalStackURL, "localstack", "http://127.0.0.1:"+envOr("LANYARD_LOCALSTACK_PORT", "4566"), "with --prefix: LocalStack endpoint")
	fs.StringVar(&f.from, "from", "", "check the objects of the windows from: RFC 3339 or a duration back from now (default: the first)")
	fs.StringVar(&f.to, "to", "", "to: RFC 3339 or a duration back from now (default: now)")
	f.add(cmd)
	return cmd
}

// resolve checks every flag before any call.
func (f *auditVerifyFlags) resolve(cmd *cobra.Command, now func() time.Time) (audittrail.Options, error) {
	switch {
	case f.prefix == "" && cmd.Flags().Changed("localstack"):
		return audittrail.Options{}, usageError{errors.New("--localstack goes with --prefix (`lanyard local`)")}
	case f.prefix != "" && !prefixShape(f.prefix):
		return audittrail.Options{}, usageError{fmt.Errorf("--prefix %q: letters, digits and dashes only", oneLine(f.prefix, 40))}
	}
	at := now()
	bucket, opts, err := f.trailFlags.resolve(cmd, f.prefix, at)
	if err != nil {
		return audittrail.Options{}, err
	}
	f.target.Bucket, f.target.Local = bucket, f.prefix != ""
	if f.from != "" {
		if opts.From, err = when("--from", f.from, at); err != nil {
			return audittrail.Options{}, err
		}
	}
	if f.to != "" {
		if opts.To, err = when("--to", f.to, at); err != nil {
			return audittrail.Options{}, err
		}
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
		return audittrail.Options{}, usageError{fmt.Errorf("--from %s is not before --to %s", opts.From.UTC().Format(time.RFC3339), opts.To.UTC().Format(time.RFC3339))}
	}
	return opts, nil
}

// pinnedPublicKey reads --public-key FILE, the trust anchor an auditor holds (nil when path
// is empty).
func pinnedPublicKey(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Clean(path)) // the operator's own file, named on their command line
	if err != nil {
		return nil, usageError{fmt.Errorf("--public-key: %w", err)}
	}
	der, err := audittrail.ParsePublicKey(b)
	if err != nil {
		return nil, usageError{fmt.Errorf("--public-key %s: %w", oneLine(path, 80), err)}
	}
	return der, nil
}

// runAuditVerify verifies the trail, printing a line per window as it goes (the table) or the
// whole answer at the end (JSON), and a progress bar on errw when it is a terminal.
func runAuditVerify(ctx context.Context, out *output, errw io.Writer, bucket string, trail audittrail.Trail, opts audittrail.Options) error {
	bar := progressBar{w: errw, on: isTerminal(errw)}
	opts.Progress = bar.show
	var windows []audittrail.WindowVerdict
	var firstFailure string
	report := func(v audittrail.WindowVerdict) {
		if !v.OK() && firstFailure == "" {
			firstFailure = v.Failures[0].String()
		}
		if out.json() {
			windows = append(windows, v)
			return
		}
		bar.clear()
		_, _ = fmt.Fprintln(out.w, verdictLine(v))
	}
	sum, err := audittrail.Verify(ctx, trail, opts, report)
	bar.clear()
	if err != nil {
		return err
	}
	if out.json() {
		if windows == nil {
			windows = []audittrail.WindowVerdict{}
		}
		if err := out.emit(verifyView{OK: sum.OK(), Bucket: bucket, Windows: windows, Summary: sum}, nil); err != nil {
			return err
		}
	} else {
		printTrailEnd(out.w, sum)
	}
	if !sum.OK() {
		return verifyFailure(sum, firstFailure)
	}
	return nil
}

func verdictLine(v audittrail.WindowVerdict) string {
	when := v.Start.UTC().Format(time.RFC3339)
	if v.OK() {
		what := fmt.Sprintf("%d objects, %d records", v.Objects, v.Records)
		if !v.Checked {
			what = "manifest only"
		}
		return fmt.Sprintf("%s  ok      %s  %s", when, v.Manifest, what)
	}
	reasons := make([]string, len(v.Failures))
	for i, f := range v.Failures {
		reasons[i] = f.String()
	}
	return fmt.Sprintf("%s  FAILED  %s", when, oneLine(strings.Join(reasons, "; "), 2000))
}

// printTrailEnd prints the failures of the trail as a whole, then the summary line.
func printTrailEnd(w io.Writer, s audittrail.Summary) {
	for _, f := range s.Failures {
		_, _ = fmt.Fprintf(w, "trail  FAILED  %s\n", oneLine(f.String(), 400))
	}
	_, _ = fmt.Fprintln(w, summaryLine(s))
}

func summaryLine(s audittrail.Summary) string {
	anchor := "trust anchor " + s.Anchor
	switch {
	case s.Anchor == "":
		anchor = "no trust anchor"
	case s.Pinned:
		anchor += " (pinned: --public-key)"
	default:
		anchor += " (not pinned: compare it with the fingerprint you recorded, or pass --public-key)"
	}
	verdict := "verified"
	if !s.OK() {
		verdict = "FAILED"
	}
	span := ""
	if !s.First.IsZero() {
		span = fmt.Sprintf(" from %s to %s", s.First.UTC().Format(time.RFC3339), s.Last.UTC().Format(time.RFC3339))
	}
	versions := "; every key's versions listed"
	if !s.Versions {
		versions = "; versions not listed"
	}
	return fmt.Sprintf("%s: %d windows%s, %d with their objects (%d objects, %d records, %d bytes); %s%s",
		verdict, s.Windows, span, s.Checked, s.Objects, s.Records, s.Bytes, anchor, versions)
}

// verifyFailure is the one-line error of a trail that does not verify: how much failed and
// the first failure.
func verifyFailure(s audittrail.Summary, first string) error {
	if first == "" && len(s.Failures) > 0 {
		first = s.Failures[0].String()
	}
	msg := fmt.Sprintf("audit trail does not verify: %d of %d windows failed", s.Failed, s.Windows)
	if len(s.Failures) > 0 {
		msg += fmt.Sprintf(", %d failures of the trail", len(s.Failures))
	}
	if first != "" {
		msg += "; first: " + oneLine(first, 300)
	}
	return errors.New(msg)
}

// progressBar draws how far the verification is on a terminal.
type progressBar struct {
	w     io.Writer
	on    bool
	drawn bool
}

func (p *progressBar) show(pr audittrail.Progress) {
	if !p.on || pr.TotalWindows == 0 {
		return
	}
	const width = 30
	done := width * pr.Windows / pr.TotalWindows
	_, _ = fmt.Fprintf(p.w, "\r[%s%s] %d/%d windows, %d records, %.1f MB", strings.Repeat("#", done), strings.Repeat(" ", width-done),
		pr.Windows, pr.TotalWindows, pr.Records, float64(pr.Bytes)/1e6)
	p.drawn = true
}

func (p *progressBar) clear() {
	if p.drawn {
		_, _ = fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
