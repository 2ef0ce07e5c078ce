package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

func TestNewJSONWritesLambdaShapedRecords(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.NewJSON(&buf, slog.LevelInfo)
	log.Debug("hidden")
	log.Info("rotation step", "step", "createSecret", "key", secret.New("lnyd_canary"))

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("one JSON record expected, got %q: %v", buf.String(), err)
	}
	for k, want := range map[string]any{"message": "rotation step", "level": "INFO", "step": "createSecret", "key": secret.Redacted} {
		if rec[k] != want {
			t.Errorf("record[%q] = %v, want %v", k, rec[k], want)
		}
	}
	if _, ok := rec["timestamp"]; !ok {
		t.Errorf("record has no timestamp: %v", rec)
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "Warn": slog.LevelWarn,
		"warning": slog.LevelWarn, "ERROR": slog.LevelError, "": slog.LevelInfo, "loud": slog.LevelInfo,
	} {
		if got := logging.ParseLevel(in); got != want {
			t.Errorf("ParseLevel(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestInLambda(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	if logging.InLambda() {
		t.Fatal("InLambda true outside Lambda")
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "lanyard-healthcheck")
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
	if !logging.InLambda() {
		t.Fatal("InLambda false inside Lambda")
	}
}
