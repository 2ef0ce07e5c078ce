// Command token-capture is an integration-test build of the token function (functions/token):
// the same wiring and handler, plus an SDK middleware on the STS client that logs every
// AssumeRole input as one JSON line,
//
//	{"message":"assume role captured","roleArn":…,"roleSessionName":…,"durationSeconds":…,
//	 "policy":"<the session policy JSON>","tags":[{"key":"partner","value":…},…],"transitiveTagKeys":[]}
//
// so a test can check, from the function's CloudWatch log, the session policy and the session
// tags the function asked for: GetCallerIdentity with the credentials shows neither. None of
// these fields is a secret; the credentials STS answers with are never seen by the middleware,
// which runs before the request is sent.
//
// Environment: as functions/token.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/token"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

// CapturedMessage is the message of the line logged for each AssumeRole.
const CapturedMessage = "assume role captured"

// tag is a session tag as the captured line renders it.
type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// captureAssumeRole is an Initialize-step middleware: it sees the operation's input as the
// caller built it, before serialization, signing and retries, so each call is logged once.
var captureAssumeRole = middleware.InitializeMiddlewareFunc("LanyardCaptureAssumeRole",
	func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if ar, ok := in.Parameters.(*sts.AssumeRoleInput); ok {
			tags := make([]tag, 0, len(ar.Tags))
			for _, t := range ar.Tags {
				tags = append(tags, tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
			}
			transitive := ar.TransitiveTagKeys
			if transitive == nil {
				transitive = []string{}
			}
			slog.InfoContext(ctx, CapturedMessage,
				"roleArn", aws.ToString(ar.RoleArn),
				"roleSessionName", aws.ToString(ar.RoleSessionName),
				"durationSeconds", aws.ToInt32(ar.DurationSeconds),
				"policy", aws.ToString(ar.Policy),
				"tags", tags,
				"transitiveTagKeys", transitive,
			)
		}
		return next.HandleInitialize(ctx, in)
	})

// withCapture adds captureAssumeRole to an STS client's stack.
func withCapture(o *sts.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(captureAssumeRole, middleware.After)
	})
}

func main() {
	slog.SetDefault(logging.New())
	pol, err := policy.Default()
	if err != nil {
		slog.Error("load the policy", "error", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := token.FromEnv(os.Getenv, cfg, pol, withCapture)
	if err != nil {
		slog.Error("configure the token exchange", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
