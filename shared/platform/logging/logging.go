// Package logging builds the slog JSON logger every Lanyard binary uses.
//
// Inside Lambda it is aws-lambda-go's lambdacontext logger (it adds the request id and honours
// the function's AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL, which our stacks set to JSON);
// everywhere else it is a JSON handler on stderr at the level of LANYARD_LOG_LEVEL.
// Secret material is carried as secret.Value, which renders as [redacted].
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// InLambda reports whether the process runs as a Lambda function.
func InLambda() bool {
	return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" && os.Getenv("AWS_LAMBDA_RUNTIME_API") != ""
}

// New returns the process logger: lambdacontext's inside Lambda, JSON on stderr elsewhere.
func New() *slog.Logger {
	if InLambda() {
		return lambdacontext.NewLogger(lambdacontext.WithFunctionARN())
	}
	return NewJSON(os.Stderr, ParseLevel(os.Getenv("LANYARD_LOG_LEVEL")))
}

// NewJSON returns a JSON logger writing to w with the same key names Lambda uses
// (timestamp, level, message), so local and deployed logs query alike.
func NewJSON(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: lambdacontext.ReplaceAttr,
	}))
}

// ParseLevel maps DEBUG / INFO / WARN / ERROR (any case) to a slog level; anything else is INFO.
func ParseLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return slog.LevelDebug
	case "WARN", "WARNING":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
