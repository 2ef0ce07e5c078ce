package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
)

// DependentsContext is the CDK context key of the deployment's dependents
// (topology.Topology.Dependents): the IAM role or user ARNs that may introspect partner keys,
// as a JSON list in cdk.json or cdk.context.json, or comma separated on the command line
// (`cdk deploy -c lanyard:dependents=arn:aws:iam::111122223333:role/billing-api`). Unset: none,
// and nobody may introspect.
const DependentsContext = "lanyard:dependents"

// Dependents reads the deployment's dependents from the context the CDK CLI hands the app in
// CDK_CONTEXT_JSON (read with getenv; cdk.json's, cdk.context.json's and -c values merged), at
// DependentsContext (DependentsOf). It reads the variable itself rather than asking a CDK app,
// so that a bad declaration is reported before the CDK's runtime starts.
func Dependents(getenv func(string) string) ([]string, error) {
	raw := getenv("CDK_CONTEXT_JSON")
	if raw == "" {
		return nil, nil
	}
	var ctx map[string]any
	if err := json.Unmarshal([]byte(raw), &ctx); err != nil {
		return nil, fmt.Errorf("CDK_CONTEXT_JSON: %w", err)
	}
	return DependentsOf(ctx[DependentsContext])
}

// Synth checks top (topology.Validate against the function mains under root) and that every
// function's deployment package is built (FunctionPackage), then defines the stacks of top in
// a new CDK app pinned to env (nil: environment-agnostic) and synthesizes them where the CDK
// CLI asks (cdk.out/). Its error is one line that names what is wrong.
func Synth(top *topology.Topology, root string, env *awscdk.Environment) error {
	if err := top.Validate(root, events.Known); err != nil {
		return oneLine(fmt.Errorf("the topology is not valid: %w", err))
	}
	var missing []error
	for _, fn := range top.Functions {
		if _, err := FunctionPackage(root, fn); err != nil {
			missing = append(missing, err)
		}
	}
	if len(missing) > 0 {
		return oneLine(fmt.Errorf("function packages missing (run `make build` first): %w", errors.Join(missing...)))
	}

	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, err := NewStacks(app, top, env, func(fn topology.Function) (awslambda.Code, error) {
		path, err := FunctionPackage(root, fn)
		if err != nil {
			return nil, err
		}
		return awslambda.Code_FromAsset(jsii.String(path), nil), nil
	}); err != nil {
		return oneLine(err)
	}
	return oneLine(synth(app))
}

// DependentsOf reads the DependentsContext value: nil (unset), a string of ARNs separated by
// commas, or a list of strings. Blank entries are dropped; the ARNs are checked by
// topology.Validate.
func DependentsOf(v any) ([]string, error) {
	var raw []string
	switch v := v.(type) {
	case nil:
	case string:
		raw = strings.Split(v, ",")
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("context %s: %v is not an ARN string", DependentsContext, e)
			}
			raw = append(raw, s)
		}
	default:
		return nil, fmt.Errorf("context %s: a list of ARNs or a comma-separated string, not %T", DependentsContext, v)
	}
	var out []string
	for _, s := range raw {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// synth synthesizes app; an error the CDK throws while validating it is returned.
func synth(app awscdk.App) (err error) {
	defer recoverCDK(&err)
	app.Synth(nil)
	return nil
}

// FunctionPackage is the path of fn's deployment package under root, where `make build`
// writes it (bin/<name>/function.zip); an error names the function when the package is not
// there.
func FunctionPackage(root string, fn topology.Function) (string, error) {
	path := filepath.Join(root, "bin", fn.Name, "function.zip")
	switch _, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("function %q: package %s: no such file", fn.Name, path)
	case err != nil:
		return "", fmt.Errorf("function %q: package %s: %w", fn.Name, path, err)
	}
	return path, nil
}

// Environment is the account and region the CDK CLI resolved (CDK_DEFAULT_ACCOUNT,
// CDK_DEFAULT_REGION, read with getenv), when it resolved both; otherwise nil, and the
// templates stay environment-agnostic.
func Environment(getenv func(string) string) *awscdk.Environment {
	account, region := getenv("CDK_DEFAULT_ACCOUNT"), getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}

// recoverCDK, deferred, turns a panic of the CDK into *err: jsii raises a JavaScript error the
// CDK throws (a construct id already taken in its scope, a value it refuses) as a Go error
// value. Any other panic, a Go runtime error or a panic of jsii's own argument checks, is a
// programming error and goes on.
func recoverCDK(err *error) {
	r := recover()
	if r == nil {
		return
	}
	thrown, ok := r.(error)
	var rt runtime.Error
	if !ok || errors.As(thrown, &rt) {
		panic(r)
	}
	msg, _, _ := strings.Cut(thrown.Error(), "\n") // the first line; the rest is JavaScript's stack
	*err = fmt.Errorf("the CDK refused the declaration: %s", msg)
}

// oneLine is err with its lines (an errors.Join of several) joined by "; "; nil stays nil.
func oneLine(err error) error {
	if err == nil {
		return nil
	}
	return lineError{err}
}

type lineError struct{ err error }

func (e lineError) Error() string { return strings.ReplaceAll(e.err.Error(), "\n", "; ") }
func (e lineError) Unwrap() error { return e.err }

// Stacks are the Lanyard stacks built from one topology.
type Stacks struct {
	Foundation *FoundationStack
	Tables     *TablesStack // nil when the topology declares no table
	Services   *ServicesStack
}

// NewStacks defines the app's stacks: the foundation (key, bus), the tables when there are
// any, and the services built from top, each function's package given by code. An error names
// the declaration or prop it could not build, or says what the CDK refused (recoverCDK).
func NewStacks(app awscdk.App, top *topology.Topology, env *awscdk.Environment, code func(topology.Function) (awslambda.Code, error)) (_ Stacks, err error) {
	defer recoverCDK(&err)
	var s Stacks
	s.Foundation = NewFoundationStack(app, "LanyardFoundation", &FoundationStackProps{
		StackProps: awscdk.StackProps{Env: env, Description: jsii.String("Lanyard: event bus, archive and customer-managed KMS key")},
	})
	if s.Foundation.DataProtection, err = NewKeyDataProtection(s.Foundation.Stack, "KeyDataProtection"); err != nil {
		return Stacks{}, err
	}
	var auditLog awslogs.ILogGroup
	if top.AuditLog != nil {
		pol, err := policy.Default()
		if err != nil {
			return Stacks{}, fmt.Errorf("audit log: %w", err)
		}
		a, err := NewAuditLog(s.Foundation.Stack, "AuditLog", &AuditLogProps{Key: s.Foundation.Key, RetentionDays: pol.Audit.RetentionDays})
		if err != nil {
			return Stacks{}, err
		}
		s.Foundation.AuditLog, auditLog = a, a.Group
	}
	if top.AuditExport != nil {
		pol, err := policy.Default()
		if err != nil {
			return Stacks{}, fmt.Errorf("audit export: %w", err)
		}
		mode, _ := app.Node().TryGetContext(jsii.String(AuditObjectLockContext)).(string)
		if mode != "" && mode != "GOVERNANCE" && mode != "COMPLIANCE" {
			return Stacks{}, fmt.Errorf("context %s: %q is neither GOVERNANCE nor COMPLIANCE", AuditObjectLockContext, mode)
		}
		if s.Foundation.AuditExport, err = NewAuditExport(s.Foundation.Stack, "AuditExport", &AuditExportProps{
			RetentionDays: pol.Audit.ExportRetentionDays, Compliance: mode == "COMPLIANCE",
		}); err != nil {
			return Stacks{}, err
		}
	}
	tables := map[string]awsdynamodb.ITable{}
	if len(top.Tables) > 0 {
		ts, err := NewTablesStack(app, "LanyardTables", &TablesStackProps{
			StackProps: awscdk.StackProps{
				Env:                   env,
				Description:           jsii.String("Lanyard: DynamoDB tables"),
				TerminationProtection: jsii.Bool(true),
			},
			Tables: top.Tables,
			Key:    s.Foundation.Key,
		})
		if err != nil {
			return Stacks{}, err
		}
		s.Tables = ts
		for name, t := range s.Tables.Tables {
			tables[name] = t
		}
	}
	services, err := NewServicesStack(app, "LanyardServices", &ServicesStackProps{
		StackProps:  awscdk.StackProps{Env: env, Description: jsii.String("Lanyard: functions, REST API, consumers and schedules")},
		Topology:    top,
		Key:         s.Foundation.Key,
		Bus:         s.Foundation.Bus,
		Tables:      tables,
		AuditLog:    auditLog,
		AuditExport: s.Foundation.AuditExport,
		Code:        code,
	})
	if err != nil {
		return Stacks{}, err
	}
	s.Services = services
	return s, nil
}
