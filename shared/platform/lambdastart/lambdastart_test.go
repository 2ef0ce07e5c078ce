package lambdastart

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

type level string

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low", "high":
		*l = level(b)
		return nil
	}
	return errors.New("not low or high")
}

type common struct {
	Outbox string `env:"OUTBOX_TABLE"`
}

type sample struct {
	common
	Table    string        `env:"CREDENTIALS_TABLE"`
	Prefix   string        `env:"SECRET_PREFIX,optional"`
	PageSize int           `env:"PAGE_SIZE,default=25"`
	Verbose  bool          `env:"VERBOSE,optional"`
	Timeout  time.Duration `env:"TIMEOUT,default=5s"`
	Level    level         `env:"LEVEL,default=low"`
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		env     map[string]string
		want    sample
		wantErr string
	}{
		{
			name: "defaults",
			env:  map[string]string{"OUTBOX_TABLE": "o", "CREDENTIALS_TABLE": "c"},
			want: sample{common: common{Outbox: "o"}, Table: "c", PageSize: 25, Timeout: 5 * time.Second, Level: "low"},
		},
		{
			name: "every kind",
			env: map[string]string{"OUTBOX_TABLE": "o", "CREDENTIALS_TABLE": "c", "SECRET_PREFIX": "p/", "PAGE_SIZE": "7",
				"VERBOSE": "true", "TIMEOUT": "1m", "LEVEL": "high"},
			want: sample{common: common{Outbox: "o"}, Table: "c", Prefix: "p/", PageSize: 7, Verbose: true, Timeout: time.Minute, Level: "high"},
		},
		{
			name:    "empty is missing",
			env:     map[string]string{"OUTBOX_TABLE": "", "CREDENTIALS_TABLE": "c"},
			wantErr: "configuration: missing OUTBOX_TABLE",
		},
		{
			name: "every problem in one line",
			env: map[string]string{"PAGE_SIZE": "canary-1", "VERBOSE": "canary-2", "TIMEOUT": "canary-3",
				"LEVEL": "canary-4"},
			wantErr: "configuration: missing OUTBOX_TABLE, CREDENTIALS_TABLE; malformed PAGE_SIZE (not a whole number), " +
				"VERBOSE (not true or false), TIMEOUT (not a duration such as 30s), LEVEL (not low or high)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got sample
			err := Load(&got, env(tc.env))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Load = %v; want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "canary") {
					t.Errorf("the error quotes a value: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Load = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestLoadRefusesBadStructs(t *testing.T) {
	t.Parallel()
	var noName struct {
		A string `env:""`
	}
	var badOption struct {
		A string `env:"A,sometimes"`
	}
	var badType struct {
		A float64 `env:"A"`
	}
	var unexported struct {
		a string `env:"A"`
	}
	_ = unexported.a
	for _, cfg := range []any{&noName, &badOption, &badType, &unexported, noName} {
		if err := Load(cfg, env(map[string]string{"A": "x"})); err == nil {
			t.Errorf("Load(%T): no error", cfg)
		}
	}
}

func TestVariables(t *testing.T) {
	t.Parallel()
	got, err := Variables(sample{})
	want := []string{"OUTBOX_TABLE", "CREDENTIALS_TABLE", "SECRET_PREFIX", "PAGE_SIZE", "VERBOSE", "TIMEOUT", "LEVEL"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Variables = %v, %v; want %v", got, err, want)
	}
}

func TestPlatform(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"AWS_REGION": true, "AWS_ENDPOINT_URL_STS": true, "LANYARD_KEY_ENVIRONMENT": true, "LANYARD_LOG_LEVEL": true,
		"LANYARD_FAULT": true, "LANYARD_REVOCATION_BUDGET": true, "LANYARD_REFUSAL_WINDOW": true, "CREDENTIALS_TABLE": false, "LANYARD_SERVER_ID": false,
	} {
		if Platform(name) != want {
			t.Errorf("Platform(%s) = %v", name, !want)
		}
	}
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	okAWS := func(context.Context) (aws.Config, error) { return aws.Config{Region: "eu-west-1"}, nil }
	type cfg struct {
		Table string `env:"TABLE"`
	}
	wire := func(_ context.Context, s Setup[cfg]) (any, error) {
		if s.Config.Table == "" || s.AWS.Region != "eu-west-1" {
			return nil, errors.New("not set up")
		}
		return "handler", nil
	}
	h, err := prepare(context.Background(), env(map[string]string{"TABLE": "t"}), okAWS, wire)
	if err != nil || h != "handler" {
		t.Fatalf("prepare = %v, %v", h, err)
	}
	loaded := false
	countAWS := func(ctx context.Context) (aws.Config, error) { loaded = true; return okAWS(ctx) }
	if _, err := prepare(context.Background(), env(nil), countAWS, wire); err == nil || err.Error() != "configuration: missing TABLE" {
		t.Errorf("prepare without TABLE = %v", err)
	}
	if loaded {
		t.Error("the AWS configuration was loaded although the function's configuration is incomplete")
	}
	badAWS := func(context.Context) (aws.Config, error) { return aws.Config{}, errors.New("no region") }
	if _, err := prepare(context.Background(), env(map[string]string{"TABLE": "t"}), badAWS, wire); err == nil || !strings.Contains(err.Error(), "load AWS configuration: no region") {
		t.Errorf("prepare with a failing AWS configuration = %v", err)
	}
	type withLoader struct {
		Table string `env:"TABLE"`
		Thing stubLoaded
	}
	var got string
	wireLoaded := func(_ context.Context, s Setup[withLoader]) (any, error) { got = s.Config.Thing.value; return "h", nil }
	if _, err := prepare(context.Background(), env(map[string]string{"TABLE": "t"}), okAWS, wireLoaded); err != nil || got != "loaded" {
		t.Errorf("prepare with a Loader field = %v, %q", err, got)
	}
	type withFailingLoader struct {
		Thing failingLoader
	}
	wireFailing := func(context.Context, Setup[withFailingLoader]) (any, error) { return "h", nil }
	if _, err := prepare(context.Background(), env(nil), okAWS, wireFailing); err == nil || err.Error() != "load the thing: broken" {
		t.Errorf("prepare with a failing Loader = %v", err)
	}
	failing := func(context.Context, Setup[cfg]) (any, error) { return nil, errors.New("load the policy: broken") }
	if _, err := prepare(context.Background(), env(map[string]string{"TABLE": "t"}), okAWS, failing); err == nil || err.Error() != "load the policy: broken" {
		t.Errorf("prepare with a failing wiring = %v", err)
	}
}

type stubLoaded struct{ value string }

func (l *stubLoaded) Load() error { l.value = "loaded"; return nil }

type failingLoader struct{}

func (*failingLoader) Load() error { return errors.New("load the thing: broken") }
