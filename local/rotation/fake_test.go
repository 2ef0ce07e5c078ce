package rotation_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/local/rotation"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// fakeSecret is one secret's rotation metadata; the fake holds no values.
type fakeSecret struct {
	name         string
	enabled      bool
	days         int64 // AutomaticallyAfterDays; 0: no rules
	created      time.Time
	lastRotated  *time.Time
	nextRotation *time.Time
	deleted      *time.Time
}

func (s *fakeSecret) arn() string {
	return "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + s.name + "-AbCdEf"
}

// rotateCall is one RotateSecret the fake received.
type rotateCall struct {
	name string
	at   time.Time
	in   secretsmanager.RotateSecretInput
}

// fakeSecrets implements the three calls the Scheduler makes over a list of secrets.
type fakeSecrets struct {
	now      func() time.Time
	pageSize int // secrets per ListSecrets page; 0: all at once

	mu      sync.Mutex
	secrets []*fakeSecret
	listErr error
	// describeErr fails DescribeSecret of the secret named.
	describeErr map[string]error
	// rotateErrs holds the answers of the next RotateSecret calls of the secret named: a nil
	// entry succeeds; once they are used up every call succeeds.
	rotateErrs map[string][]error
	// secondsOnly keeps LastRotatedDate in whole seconds, as LocalStack does.
	secondsOnly bool
	// datesLag leaves LastRotatedDate and NextRotationDate alone on RotateSecret, as AWS does
	// until the rotation it started has finished.
	datesLag bool

	rotations []rotateCall
	describes []string
}

var _ rotation.SecretsAPI = (*fakeSecrets)(nil)

func (f *fakeSecrets) add(s *fakeSecret) *fakeSecret {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets = append(f.secrets, s)
	return s
}

func (f *fakeSecrets) find(id string) *fakeSecret {
	for _, s := range f.secrets {
		if s.arn() == id || s.name == id {
			return s
		}
	}
	return nil
}

func notFound() error {
	return &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
}

func (f *fakeSecrets) ListSecrets(ctx context.Context, in *secretsmanager.ListSecretsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var visible []*fakeSecret
	for _, s := range f.secrets {
		if s.deleted == nil || aws.ToBool(in.IncludePlannedDeletion) {
			visible = append(visible, s)
		}
	}
	from := 0
	if in.NextToken != nil {
		var err error
		if from, err = strconv.Atoi(*in.NextToken); err != nil || from > len(visible) {
			return nil, &types.InvalidNextTokenException{Message: aws.String("bad token")}
		}
	}
	to := len(visible)
	if f.pageSize > 0 {
		to = min(to, from+f.pageSize)
	}
	out := &secretsmanager.ListSecretsOutput{}
	for _, s := range visible[from:to] {
		e := types.SecretListEntry{
			ARN: aws.String(s.arn()), Name: aws.String(s.name), CreatedDate: aws.Time(s.created),
			LastRotatedDate: s.lastRotated, NextRotationDate: s.nextRotation, DeletedDate: s.deleted,
		}
		if s.enabled {
			e.RotationEnabled = aws.Bool(true)
		}
		if s.days > 0 {
			e.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(s.days)}
		}
		out.SecretList = append(out.SecretList, e)
	}
	if to < len(visible) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

func (f *fakeSecrets) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(aws.ToString(in.SecretId))
	if s == nil {
		return nil, notFound()
	}
	f.describes = append(f.describes, s.name)
	if err := f.describeErr[s.name]; err != nil {
		return nil, err
	}
	out := &secretsmanager.DescribeSecretOutput{
		ARN: aws.String(s.arn()), Name: aws.String(s.name), CreatedDate: aws.Time(s.created),
		LastRotatedDate: s.lastRotated, NextRotationDate: s.nextRotation, DeletedDate: s.deleted,
		RotationEnabled: aws.Bool(s.enabled),
	}
	if s.days > 0 {
		out.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(s.days)}
	}
	return out, nil
}

func (f *fakeSecrets) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.find(aws.ToString(in.SecretId))
	if s == nil {
		return nil, notFound()
	}
	now := f.now()
	f.rotations = append(f.rotations, rotateCall{name: s.name, at: now, in: *in})
	if errs := f.rotateErrs[s.name]; len(errs) > 0 {
		f.rotateErrs[s.name] = errs[1:]
		if errs[0] != nil {
			return nil, errs[0]
		}
	}
	if !f.datesLag {
		last := now
		if f.secondsOnly {
			last = now.Truncate(time.Second)
		}
		next := now.Add(time.Duration(s.days) * 24 * time.Hour)
		s.lastRotated, s.nextRotation = &last, &next
	}
	return &secretsmanager.RotateSecretOutput{
		ARN: aws.String(s.arn()), Name: aws.String(s.name),
		VersionId: aws.String("version-" + strconv.Itoa(len(f.rotations))),
	}, nil
}

// calls returns the RotateSecret calls made so far.
func (f *fakeSecrets) calls() []rotateCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rotateCall(nil), f.rotations...)
}

// inProgress is AWS's refusal of a RotateSecret while a rotation is unfinished.
func inProgress() error {
	return &types.InvalidRequestException{Message: aws.String("A previous rotation isn't complete. That rotation will be reattempted.")}
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:4566: connect: connection refused")
