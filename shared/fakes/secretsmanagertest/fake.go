package secretsmanagertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
)

// The staging labels Secrets Manager gives meaning to.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// Defaults for Options.
const (
	DefaultAccount = "123456789012"
	DefaultRegion  = "us-east-1"
)

// Options configures a fake.
type Options struct {
	// Now is the fake's clock (creation, change and rotation dates, recovery windows); time.Now
	// when nil.
	Now func() time.Time
	// Account and Region go into the secrets' ARNs; DefaultAccount and DefaultRegion when empty.
	Account string
	Region  string
}

// SecretsManager is an in-memory Secrets Manager with the methods, signatures and typed errors
// of *secretsmanager.Client for CreateSecret, GetSecretValue, DescribeSecret, PutSecretValue,
// UpdateSecretVersionStage, DeleteSecret, RotateSecret, CancelRotateSecret, ListSecretVersionIds
// and TagResource.
// What it models, as AWS documents it:
//
//   - ARNs arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random characters>; a
//     SecretId is the name, the ARN, or the ARN without its random suffix;
//   - versions and staging labels: a label is on one version at a time; whenever AWSCURRENT
//     moves, AWSPREVIOUS moves to the version it left; PutSecretValue without VersionStages
//     moves AWSCURRENT, and the first version of a secret is always AWSCURRENT; a version left
//     without labels is deprecated: kept, readable by VersionId, listed only with
//     IncludeDeprecated;
//   - ClientRequestToken idempotency: a retry with the token and value of an existing version
//     succeeds and changes nothing; the token with another value is ResourceExistsException;
//   - scheduled deletion (RecoveryWindowInDays 7–30, default 30): the secret can be described
//     but not read or written, its name cannot be reused, and it is gone once the window has
//     passed on the clock; ForceDeleteWithoutRecovery removes it at once;
//   - rotation: RotateSecret records RotationLambdaARN, RotationRules and NextRotationDate and
//     turns RotationEnabled on; with RotateImmediately=false nothing else happens (AWS also runs
//     the function's testSecret step, which leaves no trace); otherwise, as AWS does, it
//     creates the version named by the ClientRequestToken, empty and staged AWSPENDING, and
//     calls Rotate;
//   - SDK behaviour: a nil input or a missing required member is a *smithy.InvalidParamsError,
//     every error is wrapped in a *smithy.OperationError as the client wraps it, a nil
//     ClientRequestToken becomes a fresh UUID (the SDK fills it in), a cancelled context fails
//     the call.
//
// Errors carry secret names, ARNs and version ids, never a secret value. Outputs are copies.
// It is safe for concurrent use.
type SecretsManager struct {
	// Rotate stands in for the rotation function. RotateSecret, when it rotates immediately,
	// creates the token's version (empty, staged AWSPENDING), then calls Rotate once with the
	// secret's ARN (as AWS sends it) and the token, outside the fake's lock so that Rotate can
	// call the fake; the four steps are Rotate's business. RotateSecret answers success either
	// way, since on AWS rotation runs after RotateSecret has answered; when Rotate returns nil
	// the rotation is complete and LastRotatedDate is set, otherwise the versions stay as Rotate
	// left them. Set it before use. Without it, an immediate rotation is an error.
	Rotate func(ctx context.Context, secretID, token string) error

	now     func() time.Time
	account string
	region  string

	mu      sync.Mutex
	secrets map[string]*secretState // by name
	seq     int                     // orders versions by creation
}

type secretState struct {
	name, arn   string
	description string
	kmsKeyID    string
	tags        []types.Tag
	created     time.Time
	changed     time.Time
	accessed    *time.Time
	deletion    *time.Time // scheduled deletion date; nil when not scheduled
	versions    map[string]*versionState
	rotation    rotationState
}

type rotationState struct {
	configured bool
	enabled    bool
	lambdaARN  string
	rules      *types.RotationRulesType
	next, last *time.Time
}

type versionState struct {
	id       string
	seq      int
	str      *string
	bin      []byte
	stages   []string
	created  time.Time
	accessed *time.Time
	kmsKeyID string
}

func (v *versionState) hasValue() bool { return v.str != nil || v.bin != nil }

func (v *versionState) sameValue(str *string, bin []byte) bool {
	if (v.str == nil) != (str == nil) || (v.bin == nil) != (bin == nil) {
		return false
	}
	return (str == nil || *v.str == *str) && bytes.Equal(v.bin, bin)
}

// New returns an empty fake.
func New(opts Options) *SecretsManager {
	f := &SecretsManager{now: opts.Now, account: opts.Account, region: opts.Region, secrets: map[string]*secretState{}}
	if f.now == nil {
		f.now = time.Now
	}
	if f.account == "" {
		f.account = DefaultAccount
	}
	if f.region == "" {
		f.region = DefaultRegion
	}
	return f
}

// Messages Secrets Manager answers with.
const (
	msgNotFound        = "Secrets Manager can't find the specified secret."
	msgMarkedDeleted   = "You can't perform this operation on the secret because it was marked for deletion."
	msgAlreadyDeleted  = "You tried to perform the operation on a secret that's currently marked deleted."
	msgCreateScheduled = "You can't create this secret because a secret with this name is already scheduled for deletion."
	msgInvalidName     = "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)

func opError(op string, err error) error {
	return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: op, Err: err}
}

// member is a required input member and whether the call sets it.
type member struct {
	name string
	set  bool
}

// begin checks the context and the required members the way the client does before it sends
// anything.
func begin(ctx context.Context, op string, required ...member) error {
	if err := ctx.Err(); err != nil {
		return opError(op, err)
	}
	params := smithy.InvalidParamsError{Context: op + "Input"}
	for _, m := range required {
		if !m.set {
			params.Add(smithy.NewErrParamRequired(m.name))
		}
	}
	if params.Len() > 0 {
		return opError(op, params)
	}
	return nil
}

func notFound() error { return &types.ResourceNotFoundException{Message: aws.String(msgNotFound)} }

func valueNotFound(versionID, stage string) error {
	what := "staging label: " + stage
	if versionID != "" {
		what = "VersionId: " + versionID
	}
	return &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret value for " + what)}
}

func invalidRequest(msg string) error {
	return &types.InvalidRequestException{Message: aws.String(msg)}
}

func invalidParameter(format string, args ...any) error {
	return &types.InvalidParameterException{Message: aws.String(fmt.Sprintf(format, args...))}
}

func resourceExists(msg string) error {
	return &types.ResourceExistsException{Message: aws.String(msg)}
}

func validation(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: msg, Fault: smithy.FaultClient}
}

func tokenInUse(token, arn string) error {
	return resourceExists(fmt.Sprintf("You can't use ClientRequestToken %s because that value is already in use for a version of secret %s.", token, arn))
}

// versionToken is the id of a new version: the ClientRequestToken, or a fresh UUID as the SDK
// would send.
func versionToken(token *string) (string, error) {
	if token == nil {
		return uuid.NewString(), nil
	}
	if n := len(*token); n < 32 || n > 64 {
		return "", invalidParameter("ClientRequestToken must be 32-64 characters long.")
	}
	return *token, nil
}

func checkValue(str *string, bin []byte) error {
	if str != nil && bin != nil {
		return invalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	return nil
}

func (f *SecretsManager) arnPrefix() string {
	return "arn:aws:secretsmanager:" + f.region + ":" + f.account + ":secret:"
}

const suffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func (f *SecretsManager) newARN(name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return f.arnPrefix() + name + "-" + string(b)
}

// find resolves a SecretId (name, ARN or ARN without suffix), forgetting a secret whose
// recovery window has passed. The caller holds the lock.
func (f *SecretsManager) find(id string, now time.Time) (*secretState, error) {
	s := f.resolve(id)
	if s != nil && s.deletion != nil && !now.Before(*s.deletion) {
		delete(f.secrets, s.name)
		s = nil
	}
	if s == nil {
		return nil, notFound()
	}
	return s, nil
}

func (f *SecretsManager) resolve(id string) *secretState {
	if s, ok := f.secrets[id]; ok {
		return s
	}
	rest, ok := strings.CutPrefix(id, f.arnPrefix())
	if !ok {
		return nil
	}
	for _, s := range f.secrets {
		if s.arn == id {
			return s
		}
	}
	return f.secrets[rest] // a partial ARN: the name without the random suffix
}

func (s *secretState) holder(label string) *versionState {
	for _, v := range s.versions {
		if slices.Contains(v.stages, label) {
			return v
		}
	}
	return nil
}

// attach puts label on v, taking it off the version that has it: a label is on one version at
// a time. When AWSCURRENT moves, AWSPREVIOUS moves to the version it left.
func (s *secretState) attach(label string, v *versionState) {
	from := s.holder(label)
	if from == v {
		return
	}
	if from != nil {
		from.stages = without(from.stages, label)
	}
	v.stages = append(v.stages, label)
	if label == StageCurrent && from != nil {
		if prev := s.holder(StagePrevious); prev != nil {
			prev.stages = without(prev.stages, StagePrevious)
		}
		from.stages = append(from.stages, StagePrevious)
	}
}

// rotationInProgress reports whether AWSPENDING is on a version that is not AWSCURRENT.
func (s *secretState) rotationInProgress() bool {
	v := s.holder(StagePending)
	return v != nil && !slices.Contains(v.stages, StageCurrent)
}

func (f *SecretsManager) addVersion(s *secretState, id string, str *string, bin []byte, now time.Time) *versionState {
	f.seq++
	v := &versionState{id: id, seq: f.seq, str: cloneString(str), bin: slices.Clone(bin), created: now, kmsKeyID: s.kmsKeyID}
	s.versions[id] = v
	return v
}

// CreateSecret creates a secret, with a first version staged AWSCURRENT when it has a value.
func (f *SecretsManager) CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	const op = "CreateSecret"
	if in == nil {
		in = &secretsmanager.CreateSecretInput{}
	}
	if err := begin(ctx, op, member{"Name", in.Name != nil}); err != nil {
		return nil, err
	}
	out, err := f.createSecret(in)
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func (f *SecretsManager) createSecret(in *secretsmanager.CreateSecretInput) (*secretsmanager.CreateSecretOutput, error) {
	name := *in.Name
	if !validName.MatchString(name) {
		return nil, validation(msgInvalidName)
	}
	if err := checkValue(in.SecretString, in.SecretBinary); err != nil {
		return nil, err
	}
	token, err := versionToken(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if s, err := f.find(name, now); err == nil {
		if s.deletion != nil {
			return nil, invalidRequest(msgCreateScheduled)
		}
		v := s.versions[token]
		switch {
		case v == nil:
			return nil, resourceExists("The operation failed because the secret " + name + " already exists.")
		case !v.sameValue(in.SecretString, in.SecretBinary):
			return nil, tokenInUse(token, s.arn)
		}
		// A retry of the call that created the secret: ignored, answered as the first time.
		return &secretsmanager.CreateSecretOutput{ARN: aws.String(s.arn), Name: aws.String(s.name), VersionId: aws.String(v.id)}, nil
	}
	s := &secretState{
		name: name, arn: f.newARN(name), description: aws.ToString(in.Description), kmsKeyID: aws.ToString(in.KmsKeyId),
		tags: mergeTags(nil, in.Tags), created: now, changed: now, versions: map[string]*versionState{},
	}
	f.secrets[name] = s
	out := &secretsmanager.CreateSecretOutput{ARN: aws.String(s.arn), Name: aws.String(name)}
	if in.SecretString != nil || in.SecretBinary != nil {
		v := f.addVersion(s, token, in.SecretString, in.SecretBinary, now)
		s.attach(StageCurrent, v)
		out.VersionId = aws.String(token)
	}
	return out, nil
}

// GetSecretValue reads a version: the one named by VersionId and/or VersionStage, AWSCURRENT
// when neither is given.
func (f *SecretsManager) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	const op = "GetSecretValue"
	if in == nil {
		in = &secretsmanager.GetSecretValueInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	out, err := f.getSecretValue(in)
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func (f *SecretsManager) getSecretValue(in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, err := f.find(*in.SecretId, now)
	if err != nil {
		return nil, err
	}
	if s.deletion != nil {
		return nil, invalidRequest(msgMarkedDeleted)
	}
	versionID, stage := aws.ToString(in.VersionId), aws.ToString(in.VersionStage)
	var v *versionState
	if versionID != "" {
		if v = s.versions[versionID]; v == nil {
			return nil, valueNotFound(versionID, "")
		}
		if stage != "" && !slices.Contains(v.stages, stage) {
			return nil, invalidRequest("You provided a VersionStage that is not associated to the provided VersionId.")
		}
	} else {
		if stage == "" {
			stage = StageCurrent
		}
		if v = s.holder(stage); v == nil {
			return nil, valueNotFound("", stage)
		}
	}
	if !v.hasValue() {
		return nil, valueNotFound(versionID, stage)
	}
	day := now.UTC().Truncate(24 * time.Hour)
	s.accessed, v.accessed = &day, &day
	return &secretsmanager.GetSecretValueOutput{
		ARN: aws.String(s.arn), Name: aws.String(s.name), VersionId: aws.String(v.id),
		SecretString: cloneString(v.str), SecretBinary: slices.Clone(v.bin),
		VersionStages: slices.Clone(v.stages), CreatedDate: aws.Time(v.created),
	}, nil
}

// DescribeSecret describes a secret, also one scheduled for deletion. VersionIdsToStages lists
// the versions that have a label.
func (f *SecretsManager) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	const op = "DescribeSecret"
	if in == nil {
		in = &secretsmanager.DescribeSecretInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(*in.SecretId, f.now())
	if err != nil {
		return nil, opError(op, err)
	}
	out := &secretsmanager.DescribeSecretOutput{
		ARN: aws.String(s.arn), Name: aws.String(s.name),
		CreatedDate: aws.Time(s.created), LastChangedDate: aws.Time(s.changed),
		LastAccessedDate: cloneTime(s.accessed), DeletedDate: cloneTime(s.deletion),
		Tags: cloneTags(s.tags),
	}
	if s.description != "" {
		out.Description = aws.String(s.description)
	}
	if s.kmsKeyID != "" {
		out.KmsKeyId = aws.String(s.kmsKeyID)
	}
	for id, v := range s.versions {
		if len(v.stages) == 0 {
			continue
		}
		if out.VersionIdsToStages == nil {
			out.VersionIdsToStages = map[string][]string{}
		}
		out.VersionIdsToStages[id] = slices.Clone(v.stages)
	}
	if r := s.rotation; r.configured {
		out.RotationEnabled = aws.Bool(r.enabled)
		out.RotationLambdaARN = aws.String(r.lambdaARN)
		out.RotationRules = cloneRules(r.rules)
		out.NextRotationDate = cloneTime(r.next)
		out.LastRotatedDate = cloneTime(r.last)
	}
	return out, nil
}

// PutSecretValue adds a version. Without VersionStages it becomes AWSCURRENT; with them it gets
// exactly those labels (taken off the versions that had them); the first version of a secret
// is AWSCURRENT in any case.
func (f *SecretsManager) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	const op = "PutSecretValue"
	if in == nil {
		in = &secretsmanager.PutSecretValueInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	out, err := f.putSecretValue(in)
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func (f *SecretsManager) putSecretValue(in *secretsmanager.PutSecretValueInput) (*secretsmanager.PutSecretValueOutput, error) {
	token, err := versionToken(in.ClientRequestToken)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, err := f.find(*in.SecretId, now)
	if err != nil {
		return nil, err
	}
	if s.deletion != nil {
		return nil, invalidRequest(msgMarkedDeleted)
	}
	if in.SecretString == nil && in.SecretBinary == nil {
		return nil, invalidRequest("You must provide either SecretString or SecretBinary.")
	}
	if err := checkValue(in.SecretString, in.SecretBinary); err != nil {
		return nil, err
	}
	out := func(v *versionState) *secretsmanager.PutSecretValueOutput {
		return &secretsmanager.PutSecretValueOutput{
			ARN: aws.String(s.arn), Name: aws.String(s.name), VersionId: aws.String(v.id), VersionStages: slices.Clone(v.stages),
		}
	}
	v := s.versions[token]
	switch {
	case v != nil && v.hasValue() && v.sameValue(in.SecretString, in.SecretBinary):
		return out(v), nil // a retry: succeeds and does nothing
	case v != nil && v.hasValue():
		return nil, tokenInUse(token, s.arn)
	case v != nil:
		// The empty version RotateSecret made for this token: the rotation function's
		// createSecret step gives it its value.
		v.str, v.bin = cloneString(in.SecretString), slices.Clone(in.SecretBinary)
	default:
		first := len(s.versions) == 0
		v = f.addVersion(s, token, in.SecretString, in.SecretBinary, now)
		if first {
			s.attach(StageCurrent, v)
		}
	}
	stages := in.VersionStages
	if stages == nil {
		stages = []string{StageCurrent}
	}
	for _, label := range stages {
		s.attach(label, v)
	}
	s.changed = now
	return out(v), nil
}

// UpdateSecretVersionStage moves a staging label: off RemoveFromVersionId, onto
// MoveToVersionId. A label another version has can only be taken from it by naming that
// version in RemoveFromVersionId.
func (f *SecretsManager) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	const op = "UpdateSecretVersionStage"
	if in == nil {
		in = &secretsmanager.UpdateSecretVersionStageInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}, member{"VersionStage", in.VersionStage != nil}); err != nil {
		return nil, err
	}
	out, err := f.updateSecretVersionStage(in)
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func (f *SecretsManager) updateSecretVersionStage(in *secretsmanager.UpdateSecretVersionStageInput) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, err := f.find(*in.SecretId, now)
	if err != nil {
		return nil, err
	}
	if s.deletion != nil {
		return nil, invalidRequest(msgMarkedDeleted)
	}
	label, removeID, moveID := *in.VersionStage, aws.ToString(in.RemoveFromVersionId), aws.ToString(in.MoveToVersionId)
	var remove, move *versionState
	if removeID != "" {
		if remove = s.versions[removeID]; remove == nil {
			return nil, invalidParameter("Not a valid version: %s", removeID)
		}
		if !slices.Contains(remove.stages, label) {
			return nil, invalidParameter("Version stage %s not found in version %s", label, removeID)
		}
	}
	if moveID != "" {
		if move = s.versions[moveID]; move == nil {
			return nil, invalidParameter("Not a valid version: %s", moveID)
		}
		if h := s.holder(label); h != nil && h != move && remove == nil {
			return nil, invalidParameter("The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", label, h.id)
		}
	}
	switch {
	case move != nil:
		s.attach(label, move)
	case remove != nil:
		remove.stages = without(remove.stages, label)
	}
	s.changed = now
	return &secretsmanager.UpdateSecretVersionStageOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}, nil
}

// DeleteSecret schedules the secret's deletion after RecoveryWindowInDays (7–30, default 30)
// or, with ForceDeleteWithoutRecovery, deletes it at once; forcing the deletion of a secret
// that does not exist succeeds, as AWS documents.
func (f *SecretsManager) DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error) {
	const op = "DeleteSecret"
	if in == nil {
		in = &secretsmanager.DeleteSecretInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	out, err := f.deleteSecret(in)
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func (f *SecretsManager) deleteSecret(in *secretsmanager.DeleteSecretInput) (*secretsmanager.DeleteSecretOutput, error) {
	force := aws.ToBool(in.ForceDeleteWithoutRecovery)
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, invalidParameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
		if force {
			return nil, invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	id := *in.SecretId
	s, err := f.find(id, now)
	switch {
	case err != nil && force:
		arn, name := id, id
		if rest, ok := strings.CutPrefix(id, f.arnPrefix()); ok {
			name = rest
			if i := strings.LastIndexByte(rest, '-'); i >= 0 && len(rest)-i == 7 {
				name = rest[:i]
			}
		} else {
			arn = f.newARN(id)
		}
		return &secretsmanager.DeleteSecretOutput{ARN: aws.String(arn), Name: aws.String(name), DeletionDate: aws.Time(now)}, nil
	case err != nil:
		return nil, err
	case force:
		delete(f.secrets, s.name)
		return &secretsmanager.DeleteSecretOutput{ARN: aws.String(s.arn), Name: aws.String(s.name), DeletionDate: aws.Time(now)}, nil
	case s.deletion != nil:
		return nil, invalidRequest(msgAlreadyDeleted)
	}
	when := now.Add(time.Duration(days) * 24 * time.Hour)
	s.deletion = &when
	s.changed = now
	return &secretsmanager.DeleteSecretOutput{ARN: aws.String(s.arn), Name: aws.String(s.name), DeletionDate: aws.Time(when)}, nil
}

// RotateSecret records the rotation configuration and, unless RotateImmediately is false,
// starts a rotation: see SecretsManager.Rotate.
func (f *SecretsManager) RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error) {
	const op = "RotateSecret"
	if in == nil {
		in = &secretsmanager.RotateSecretInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	out, s, rotate, err := f.startRotation(in)
	if err != nil {
		return nil, opError(op, err)
	}
	if rotate == nil {
		return out, nil
	}
	if err := rotate(ctx, aws.ToString(out.ARN), aws.ToString(out.VersionId)); err != nil {
		return out, nil // the rotation failed after RotateSecret had answered, as on AWS
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.secrets[s.name] == s && s.deletion == nil {
		now := f.now()
		s.rotation.last = &now
		s.rotation.next = nextRotation(s.rotation.rules, now)
	}
	return out, nil
}

func (f *SecretsManager) startRotation(in *secretsmanager.RotateSecretInput) (*secretsmanager.RotateSecretOutput, *secretState, func(context.Context, string, string) error, error) {
	token, err := versionToken(in.ClientRequestToken)
	if err != nil {
		return nil, nil, nil, err
	}
	immediately := in.RotateImmediately == nil || *in.RotateImmediately
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, err := f.find(*in.SecretId, now)
	if err != nil {
		return nil, nil, nil, err
	}
	if s.deletion != nil {
		return nil, nil, nil, invalidRequest(msgMarkedDeleted)
	}
	lambdaARN := aws.ToString(in.RotationLambdaARN)
	if lambdaARN == "" {
		lambdaARN = s.rotation.lambdaARN
	}
	if lambdaARN == "" {
		return nil, nil, nil, invalidRequest("No Lambda rotation function ARN is associated with this secret.")
	}
	if r := in.RotationRules; r != nil && r.AutomaticallyAfterDays != nil && (*r.AutomaticallyAfterDays < 1 || *r.AutomaticallyAfterDays > 1000) {
		return nil, nil, nil, invalidParameter("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
	}
	if s.rotationInProgress() {
		return nil, nil, nil, invalidRequest("Previous rotation request is still in progress.")
	}
	rotate := f.Rotate
	if immediately {
		if rotate == nil {
			return nil, nil, nil, fmt.Errorf("secretsmanagertest: RotateSecret of %s rotates immediately, but the fake has no Rotate hook to stand in for the rotation function", s.name)
		}
		if _, ok := s.versions[token]; ok {
			return nil, nil, nil, tokenInUse(token, s.arn)
		}
	}

	r := &s.rotation
	r.configured, r.lambdaARN = true, lambdaARN
	if in.RotationRules != nil {
		r.rules = cloneRules(in.RotationRules)
	}
	if days := rotationDays(r.rules); days > 0 {
		r.enabled = true
		r.next = nextRotation(r.rules, now)
	}
	s.changed = now
	out := &secretsmanager.RotateSecretOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}
	if !immediately {
		return out, s, nil, nil
	}
	v := f.addVersion(s, token, nil, nil, now)
	s.attach(StagePending, v)
	out.VersionId = aws.String(token)
	return out, s, rotate, nil
}

func rotationDays(r *types.RotationRulesType) int64 {
	if r == nil {
		return 0
	}
	return aws.ToInt64(r.AutomaticallyAfterDays)
}

func nextRotation(r *types.RotationRulesType, from time.Time) *time.Time {
	days := rotationDays(r)
	if days <= 0 {
		return nil
	}
	next := from.Add(time.Duration(days) * 24 * time.Hour)
	return &next
}

// CancelRotateSecret turns the secret's automatic rotation off (NextRotationDate goes) and
// leaves the staging labels as they are: AWS says cancelling a rotation in progress "can leave
// the VersionStage labels in an unexpected state", and the caller removes AWSPENDING. A secret
// with no rotation function configured, or scheduled for deletion, is InvalidRequestException.
func (f *SecretsManager) CancelRotateSecret(ctx context.Context, in *secretsmanager.CancelRotateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CancelRotateSecretOutput, error) {
	const op = "CancelRotateSecret"
	if in == nil {
		in = &secretsmanager.CancelRotateSecretInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, err := f.find(*in.SecretId, now)
	switch {
	case err != nil:
		return nil, opError(op, err)
	case s.deletion != nil:
		return nil, opError(op, invalidRequest(msgAlreadyDeleted))
	case !s.rotation.configured:
		return nil, opError(op, invalidRequest("You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call."))
	}
	s.rotation.enabled, s.rotation.next = false, nil
	s.changed = now
	return &secretsmanager.CancelRotateSecretOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}, nil
}

// ListSecretVersionIds lists the versions that have a label, newest first, and with
// IncludeDeprecated those without. MaxResults and NextToken page through them.
func (f *SecretsManager) ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	const op = "ListSecretVersionIds"
	if in == nil {
		in = &secretsmanager.ListSecretVersionIdsInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}); err != nil {
		return nil, err
	}
	out, err := f.listSecretVersionIDs(in)
	if err != nil {
		return nil, opError(op, err)
	}
	return out, nil
}

func (f *SecretsManager) listSecretVersionIDs(in *secretsmanager.ListSecretVersionIdsInput) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.find(*in.SecretId, f.now())
	if err != nil {
		return nil, err
	}
	if s.deletion != nil {
		return nil, invalidRequest(msgMarkedDeleted)
	}
	var versions []*versionState
	for _, v := range s.versions {
		if len(v.stages) > 0 || aws.ToBool(in.IncludeDeprecated) {
			versions = append(versions, v)
		}
	}
	slices.SortFunc(versions, func(a, b *versionState) int { return b.seq - a.seq })
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 || n > len(versions) {
			return nil, &types.InvalidNextTokenException{Message: aws.String("The NextToken value is invalid.")}
		}
		start = n
	}
	end := len(versions)
	if in.MaxResults != nil {
		if m := int(*in.MaxResults); m < 1 || m > 100 {
			return nil, validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100")
		} else if start+m < end {
			end = start + m
		}
	}
	out := &secretsmanager.ListSecretVersionIdsOutput{ARN: aws.String(s.arn), Name: aws.String(s.name)}
	for _, v := range versions[start:end] {
		e := types.SecretVersionsListEntry{
			VersionId: aws.String(v.id), VersionStages: slices.Clone(v.stages),
			CreatedDate: aws.Time(v.created), LastAccessedDate: cloneTime(v.accessed),
		}
		if v.kmsKeyID != "" {
			e.KmsKeyIds = []string{v.kmsKeyID}
		}
		out.Versions = append(out.Versions, e)
	}
	if end < len(versions) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// TagResource adds tags to a secret; a tag whose key the secret has replaces it.
func (f *SecretsManager) TagResource(ctx context.Context, in *secretsmanager.TagResourceInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error) {
	const op = "TagResource"
	if in == nil {
		in = &secretsmanager.TagResourceInput{}
	}
	if err := begin(ctx, op, member{"SecretId", in.SecretId != nil}, member{"Tags", in.Tags != nil}); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, err := f.find(*in.SecretId, now)
	if err != nil {
		return nil, opError(op, err)
	}
	s.tags = mergeTags(s.tags, in.Tags)
	s.changed = now
	return &secretsmanager.TagResourceOutput{}, nil
}

func mergeTags(have, add []types.Tag) []types.Tag {
	out := cloneTags(have)
	for _, t := range add {
		i := slices.IndexFunc(out, func(o types.Tag) bool { return aws.ToString(o.Key) == aws.ToString(t.Key) })
		t = types.Tag{Key: cloneString(t.Key), Value: cloneString(t.Value)}
		if i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return out
}

func without(stages []string, label string) []string {
	return slices.DeleteFunc(slices.Clone(stages), func(s string) bool { return s == label })
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func cloneTags(tags []types.Tag) []types.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]types.Tag, len(tags))
	for i, t := range tags {
		out[i] = types.Tag{Key: cloneString(t.Key), Value: cloneString(t.Value)}
	}
	return out
}

func cloneRules(r *types.RotationRulesType) *types.RotationRulesType {
	if r == nil {
		return nil
	}
	c := types.RotationRulesType{Duration: cloneString(r.Duration), ScheduleExpression: cloneString(r.ScheduleExpression)}
	if r.AutomaticallyAfterDays != nil {
		c.AutomaticallyAfterDays = aws.Int64(*r.AutomaticallyAfterDays)
	}
	return &c
}
