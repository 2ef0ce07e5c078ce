// Command rotator is an integration-test Secrets Manager rotation function. It runs the four
// rotation steps the way AWS's rotation templates do, reduced to what a test needs:
//
//   - createSecret: if the token's version has no value yet, PutSecretValue a new random value
//     under the token, staged AWSPENDING;
//   - setSecret: nothing (there is no downstream system to update);
//   - testSecret: the AWSPENDING value of the token's version must be readable;
//   - finishSecret: move AWSCURRENT to the token's version, unless it is already there.
//
// Every step it runs is recorded as an item (step, secret id, token, outcome, note) in the
// DynamoDB table named by ROTATOR_TABLE, so a test can read the sequence back. The step named
// by ROTATOR_FAIL_STEP fails without doing anything. The event's SecretId may be the secret's
// name or its ARN; both are used as given. Secret values are never logged nor recorded.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// Staging labels.
const (
	current = "AWSCURRENT"
	pending = "AWSPENDING"
)

// Item layout of the steps table (key pk string, sk number): a counter item, and one item per
// step run under pk "step" with sk 1, 2, 3, ... in the order the steps ran.
const (
	stepsPartition = "step"
	counterKey     = "counter"
)

type rotator struct {
	sm       *secretsmanager.Client
	db       *dynamodb.Client
	table    string
	failStep string
}

func main() {
	slog.SetDefault(logging.New())
	table := os.Getenv("ROTATOR_TABLE")
	if table == "" {
		slog.Error("ROTATOR_TABLE is not set")
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	r := &rotator{
		sm:       secretsmanager.NewFromConfig(cfg),
		db:       dynamodb.NewFromConfig(cfg),
		table:    table,
		failStep: os.Getenv("ROTATOR_FAIL_STEP"),
	}
	lambda.Start(r.handle)
}

func (r *rotator) handle(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
	log := slog.With("step", ev.Step, "secretId", ev.SecretID, "token", ev.ClientRequestToken)
	var (
		note string
		err  error
	)
	if r.failStep != "" && ev.Step == r.failStep {
		err = fmt.Errorf("rotator: step %s fails because ROTATOR_FAIL_STEP names it", ev.Step)
	} else {
		note, err = r.run(ctx, ev)
	}
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	if rerr := r.record(ctx, ev, outcome, note); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		log.ErrorContext(ctx, "rotation step failed", "error", err)
		return err
	}
	log.InfoContext(ctx, "rotation step done", "note", note)
	return nil
}

// run performs one step and returns a short note on what it did (never a secret value).
func (r *rotator) run(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) (string, error) {
	switch ev.Step {
	case "createSecret", "setSecret", "testSecret", "finishSecret":
	default:
		return "", fmt.Errorf("rotator: unknown step %q", ev.Step)
	}
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return "", errors.New("rotator: the event has no SecretId or no ClientRequestToken")
	}

	// The checks every AWS template makes first: rotation is enabled, the token is a version
	// of the secret, and that version is staged AWSPENDING unless it is already AWSCURRENT.
	desc, err := r.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return "", fmt.Errorf("rotator: describe secret: %w", err)
	}
	if !aws.ToBool(desc.RotationEnabled) {
		return "", errors.New("rotator: rotation is not enabled on the secret")
	}
	stages, ok := desc.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return "", errors.New("rotator: the token is not a version of the secret")
	}
	if slices.Contains(stages, current) {
		return "version already AWSCURRENT", nil
	}
	if !slices.Contains(stages, pending) {
		return "", errors.New("rotator: the token's version is not staged AWSPENDING")
	}

	switch ev.Step {
	case "createSecret":
		return r.createSecret(ctx, ev)
	case "setSecret":
		return "nothing to set", nil
	case "testSecret":
		return r.testSecret(ctx, ev)
	default:
		return r.finishSecret(ctx, ev, desc.VersionIdsToStages)
	}
}

func (r *rotator) createSecret(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) (string, error) {
	// The secret must have a current value.
	if _, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(ev.SecretID), VersionStage: aws.String(current),
	}); err != nil {
		return "", fmt.Errorf("rotator: get AWSCURRENT: %w", err)
	}
	_, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(ev.SecretID), VersionId: aws.String(ev.ClientRequestToken), VersionStage: aws.String(pending),
	})
	if err == nil {
		return "pending value exists", nil
	}
	var notFound *smtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		return "", fmt.Errorf("rotator: get AWSPENDING: %w", err)
	}
	value, err := newValue()
	if err != nil {
		return "", err
	}
	if _, err := r.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(ev.SecretID),
		ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString:       aws.String(value),
		VersionStages:      []string{pending},
	}); err != nil {
		return "", fmt.Errorf("rotator: put AWSPENDING: %w", err)
	}
	return "pending value created", nil
}

func (r *rotator) testSecret(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) (string, error) {
	out, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(ev.SecretID), VersionId: aws.String(ev.ClientRequestToken), VersionStage: aws.String(pending),
	})
	if err != nil {
		return "", fmt.Errorf("rotator: get AWSPENDING: %w", err)
	}
	if aws.ToString(out.SecretString) == "" && len(out.SecretBinary) == 0 {
		return "", errors.New("rotator: the AWSPENDING version has an empty value")
	}
	return "pending value readable", nil
}

func (r *rotator) finishSecret(ctx context.Context, ev events.SecretsManagerSecretRotationEvent, versions map[string][]string) (string, error) {
	var from string
	for id, stages := range versions {
		if slices.Contains(stages, current) {
			from = id
		}
	}
	if _, err := r.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(ev.SecretID),
		VersionStage:        aws.String(current),
		MoveToVersionId:     aws.String(ev.ClientRequestToken),
		RemoveFromVersionId: aws.String(from),
	}); err != nil {
		return "", fmt.Errorf("rotator: move AWSCURRENT: %w", err)
	}
	return "AWSCURRENT moved from " + from, nil
}

// record appends the step to the table: a counter gives it the next sort key.
func (r *rotator) record(ctx context.Context, ev events.SecretsManagerSecretRotationEvent, outcome, note string) error {
	out, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(r.table),
		Key: map[string]dbtypes.AttributeValue{
			"pk": &dbtypes.AttributeValueMemberS{Value: counterKey},
			"sk": &dbtypes.AttributeValueMemberN{Value: "0"},
		},
		UpdateExpression:          aws.String("ADD n :one"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":one": &dbtypes.AttributeValueMemberN{Value: "1"}},
		ReturnValues:              dbtypes.ReturnValueUpdatedNew,
	})
	if err != nil {
		return fmt.Errorf("rotator: count step: %w", err)
	}
	n, ok := out.Attributes["n"].(*dbtypes.AttributeValueMemberN)
	if !ok {
		return errors.New("rotator: the step counter is not a number")
	}
	if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(r.table),
		Item: map[string]dbtypes.AttributeValue{
			"pk":       &dbtypes.AttributeValueMemberS{Value: stepsPartition},
			"sk":       &dbtypes.AttributeValueMemberN{Value: n.Value},
			"step":     &dbtypes.AttributeValueMemberS{Value: ev.Step},
			"secretId": &dbtypes.AttributeValueMemberS{Value: ev.SecretID},
			"token":    &dbtypes.AttributeValueMemberS{Value: ev.ClientRequestToken},
			"outcome":  &dbtypes.AttributeValueMemberS{Value: outcome},
			"note":     &dbtypes.AttributeValueMemberS{Value: note},
		},
	}); err != nil {
		return fmt.Errorf("rotator: record step: %w", err)
	}
	return nil
}

// newValue returns a fresh random secret value.
func newValue() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("rotator: random value: %w", err)
	}
	return "rotated-" + hex.EncodeToString(b), nil
}
