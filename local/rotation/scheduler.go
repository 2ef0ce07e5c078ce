// Package rotation is the rotation scheduler `lanyard local` runs in place of Secrets Manager's
// own. LocalStack records each secret's rotation configuration (the rotation function, the
// rules, NextRotationDate) but never fires a scheduled rotation; the Scheduler looks at the
// secrets every Interval and calls RotateSecret for each one that is due, as Secrets Manager
// would. LocalStack then runs the rotation function with createSecret, setSecret, testSecret
// and finishSecret: the rotation itself is never done here, only its trigger.
//
// # When a secret is due
//
// Each pass lists the secrets (ListSecrets, every page) and describes (DescribeSecret) those
// whose name starts with Prefix and whose listing says rotation is enabled; the description
// decides. A secret is considered when rotation is enabled on it and it is not scheduled for
// deletion. Its due time is:
//
//   - without compression (DayLength is 24h, the default): NextRotationDate, as AWS uses it;
//     when a secret has none, LastRotatedDate (or CreatedDate if it was never rotated) plus
//     AutomaticallyAfterDays days;
//   - with compression (any other DayLength, e.g. 1s for demos and tests): LastRotatedDate (or
//     CreatedDate if it was never rotated) plus AutomaticallyAfterDays × DayLength.
//     NextRotationDate, which LocalStack computes in real days, is ignored.
//
// The Scheduler also keeps, for each secret, when the last RotateSecret it made was accepted,
// and a secret is never due before that time plus one rotation period. LocalStack does move
// LastRotatedDate when a rotation ends, so this changes nothing there in the common case; it
// covers what the dates cannot: LastRotatedDate is kept in whole seconds (a rotation ending at
// 10.9 s reads 10 s, which with one-second days would make the secret due again 0.1 s later),
// and on AWS a rotation runs after RotateSecret has answered, so LastRotatedDate lags the
// trigger.
//
// # Triggering
//
// A due secret gets RotateSecret with its ARN and nothing else: no rotation rules (its
// schedule is kept as it is), no rotation function (the one configured is used), and
// RotateImmediately left to its default, true, so the four steps run now. The SDK supplies a
// fresh ClientRequestToken. A RotateSecret that fails (the rotation function failed again on a
// pending version; "a previous rotation request is still in progress"; LocalStack unreachable)
// is logged and retried on a later pass; whatever the outcome, the same secret gets at most one
// RotateSecret per Interval. The Scheduler never reads a secret value.
//
// # LocalStack 4.7.0, as observed
//
// RotateSecret runs the four steps inside the call. NextRotationDate becomes the call's start
// plus AutomaticallyAfterDays real days, and LastRotatedDate the call's end, both in whole
// seconds (so NextRotationDate can read a second before LastRotatedDate + days); with
// RotateImmediately=false (our patch) neither date is a rotation and LastRotatedDate stays
// unset. A step that fails is swallowed: RotateSecret answers 200, the new version is left
// AWSPENDING and LastRotatedDate moves anyway, so the Scheduler waits a day; its next
// RotateSecret re-runs the steps on that pending version and, while they keep failing, is
// refused with InvalidRequestException, which the Scheduler retries once an Interval until the
// rotation converges.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretsAPI is the part of the Secrets Manager client the Scheduler uses.
type SecretsAPI interface {
	ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Defaults.
const (
	// DefaultInterval is how often the Scheduler looks at the secrets.
	DefaultInterval = 5 * time.Second
	// Day is the length of a rotation day without compression.
	Day = 24 * time.Hour
)

// Scheduler calls RotateSecret for the secrets whose rotation is due. Set its fields, then call
// Run (or Tick, one pass at a time); do not change them afterwards. A Scheduler must not be
// copied once used.
type Scheduler struct {
	Secrets SecretsAPI
	// Prefix selects the secrets: only those whose name starts with it are rotated (e.g. the
	// local partner key prefix, "lanyard/partners/"). Empty selects every secret.
	Prefix string
	// Interval is the pause between two passes, and the shortest time between two
	// RotateSecret calls for one secret; 0 means DefaultInterval.
	Interval time.Duration
	// DayLength is how long a rotation "day" lasts; 0 means Day (24h, no compression). Any
	// other value compresses the schedule (see the package documentation).
	DayLength time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the Scheduler's logs; nil uses slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex          // serializes passes; guards the fields below
	tracked map[string]*tracked // by secret ARN
}

// tracked is what the Scheduler remembers of one secret between passes.
type tracked struct {
	attempted time.Time // when the pass that last called RotateSecret for it began
	triggered time.Time // when the last accepted RotateSecret returned
	failures  int       // consecutive failed RotateSecret calls
	lastErr   string    // the last failure logged at warning level, to warn once per kind
}

// Result tells what one pass did. Secrets are named by their names.
type Result struct {
	// Checked counts the secrets under the prefix that were listed.
	Checked int
	// Rotated holds the secrets whose RotateSecret was accepted.
	Rotated []string
	// Failed holds the secrets whose DescribeSecret or RotateSecret failed; they are looked at
	// again on a later pass.
	Failed []string
	// Deferred holds the secrets that were due but had a RotateSecret less than an Interval ago.
	Deferred []string
}

// Run makes a pass at once and then every Interval (counted from the end of the previous pass)
// until ctx is done, then returns nil. It returns an error at once when the Scheduler cannot
// run. Errors of a pass are logged; they never end Run.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.Secrets == nil {
		return errors.New("rotation scheduler: Secrets is required")
	}
	log := s.logger()
	log.InfoContext(ctx, "rotation scheduler started", "prefix", s.Prefix, "interval", s.interval().String(),
		"day", s.day().String(), "compressed", s.day() != Day)
	var lastErr string
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		_, err := s.Tick(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			log.WarnContext(ctx, "rotation pass failed; retrying every interval", "error", err)
		case err == nil && lastErr != "":
			lastErr = ""
			log.InfoContext(ctx, "rotation pass succeeded again")
		}
		timer.Reset(s.interval())
	}
}

// Tick makes one pass: it lists the secrets, describes those under the prefix with rotation
// enabled, and calls RotateSecret for each one that is due. It returns an error only when the
// secrets cannot be listed or ctx ends; a failure on one secret is logged, reported in Result
// and does not stop the pass. Passes never overlap: a Tick waits for one in progress.
func (s *Scheduler) Tick(ctx context.Context) (Result, error) {
	if s.Secrets == nil {
		return Result{}, errors.New("rotation scheduler: Secrets is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tracked == nil {
		s.tracked = map[string]*tracked{}
	}
	now := s.now()
	entries, err := s.list(ctx)
	if err != nil {
		return Result{}, err
	}
	var res Result
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name, arn := aws.ToString(e.Name), aws.ToString(e.ARN)
		if !strings.HasPrefix(name, s.Prefix) || arn == "" {
			continue
		}
		res.Checked++
		seen[arn] = true
		if !aws.ToBool(e.RotationEnabled) || e.DeletedDate != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("rotation scheduler: %w", err)
		}
		s.consider(ctx, now, name, arn, &res)
	}
	if ctx.Err() == nil {
		for arn := range s.tracked {
			if !seen[arn] {
				delete(s.tracked, arn) // deleted, or renamed out of the prefix
			}
		}
	}
	return res, nil
}

// list returns every secret Secrets Manager lists (those scheduled for deletion excluded).
func (s *Scheduler) list(ctx context.Context) ([]types.SecretListEntry, error) {
	var entries []types.SecretListEntry
	p := secretsmanager.NewListSecretsPaginator(s.Secrets, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("rotation scheduler: list secrets: %w", err)
		}
		entries = append(entries, page.SecretList...)
	}
	return entries, nil
}

// consider describes one secret and rotates it if it is due.
func (s *Scheduler) consider(ctx context.Context, now time.Time, name, arn string, res *Result) {
	log := s.logger().With("secret", name)
	t := s.tracked[arn]
	if t == nil {
		t = &tracked{}
		s.tracked[arn] = t
	}
	desc, err := s.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		var nf *types.ResourceNotFoundException
		switch {
		case ctx.Err() != nil:
		case errors.As(err, &nf):
			log.DebugContext(ctx, "secret deleted since it was listed")
		default:
			s.warnOnce(ctx, log, t, "describe secret; retrying on the next pass", err)
			res.Failed = append(res.Failed, name)
		}
		return
	}
	if !aws.ToBool(desc.RotationEnabled) || desc.DeletedDate != nil {
		return
	}
	due, ok := s.dueAt(desc, t)
	if !ok {
		log.DebugContext(ctx, "rotation enabled but no schedule the scheduler can read (no AutomaticallyAfterDays, no NextRotationDate)")
		return
	}
	if now.Before(due) {
		return
	}
	if !t.attempted.IsZero() && now.Sub(t.attempted) < s.interval() {
		log.DebugContext(ctx, "rotation due, but the last attempt was less than an interval ago", "due", due)
		res.Deferred = append(res.Deferred, name)
		return
	}
	t.attempted = now
	out, err := s.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		t.failures++
		s.warnOnce(ctx, log.With("due", due, "failures", t.failures), t, "rotate secret failed; retrying on a later pass", err)
		res.Failed = append(res.Failed, name)
		return
	}
	t.triggered, t.failures, t.lastErr = s.now(), 0, ""
	log.InfoContext(ctx, "rotation triggered", "due", due, "version", aws.ToString(out.VersionId))
	res.Rotated = append(res.Rotated, name)
}

// dueAt returns when the secret is next due, or false when it has no schedule the Scheduler
// can read.
func (s *Scheduler) dueAt(d *secretsmanager.DescribeSecretOutput, t *tracked) (time.Time, bool) {
	day := s.day()
	var days int64
	if d.RotationRules != nil {
		days = aws.ToInt64(d.RotationRules.AutomaticallyAfterDays)
	}
	period := time.Duration(days) * day
	var due time.Time
	switch {
	case day == Day && d.NextRotationDate != nil:
		due = *d.NextRotationDate
	case days > 0:
		base := d.LastRotatedDate
		if base == nil {
			base = d.CreatedDate
		}
		if base == nil {
			return time.Time{}, false
		}
		due = base.Add(period)
	default:
		return time.Time{}, false
	}
	if !t.triggered.IsZero() {
		if days > 0 {
			if next := t.triggered.Add(period); next.After(due) {
				due = next
			}
		} else if !due.After(t.triggered) {
			// NextRotationDate has not moved since the rotation triggered, and there is no
			// period to count from: wait until it does.
			return time.Time{}, false
		}
	}
	return due, true
}

// warnOnce logs err at warning level unless it repeats the secret's last logged error, which
// goes to debug level, so a secret that keeps failing is reported once per kind of failure.
func (s *Scheduler) warnOnce(ctx context.Context, log *slog.Logger, t *tracked, msg string, err error) {
	if e := err.Error(); e != t.lastErr {
		t.lastErr = e
		log.WarnContext(ctx, msg, "error", err)
		return
	}
	log.DebugContext(ctx, msg, "error", err)
}

func (s *Scheduler) interval() time.Duration {
	if s.Interval > 0 {
		return s.Interval
	}
	return DefaultInterval
}

func (s *Scheduler) day() time.Duration {
	if s.DayLength > 0 {
		return s.DayLength
	}
	return Day
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
