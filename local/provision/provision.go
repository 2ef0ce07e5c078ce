// Package provision creates the declared topology in LocalStack and DynamoDB Local, idempotently:
// the KMS key, the bus, the audit log group (encrypted with the key), tables, queues with their DLQs and redrive, functions from the
// `make build-local` zips with their environment, rules and targets, SQS event source mappings
// and schedules. A second run changes nothing and says so; changed function code or
// configuration is updated in place.
//
// Table streams are not mapped here: LocalStack cannot read DynamoDB Local's streams, so
// `lanyard local` runs the stream poller (local/streams) for each declared stream consumer.
package provision

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/topology"
)

// Action says what a run did to a resource.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Change is one resource's outcome.
type Change struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// Stream is a declared stream consumer bound to its local resources.
type Stream struct {
	Consumer          topology.StreamConsumer
	Table             string // local table name
	StreamARN         string
	Function          string // Lambda function name
	OnFailureQueue    string // queue URL
	OnFailureQueueARN string
}

// Result is what a run provisioned.
type Result struct {
	KeyARN     string            `json:"keyArn"`
	Bus        string            `json:"bus"`
	Tables     map[string]string `json:"tables"`     // declared name → local name
	Functions  map[string]string `json:"functions"`  // declared name → Lambda name
	Queues     map[string]string `json:"queues"`     // local queue name → URL
	Roles      map[string]string `json:"roles"`      // declared name → role ARN
	UsagePlans map[string]string `json:"usagePlans"` // declared name → usage plan id
	// AuditLog is the audit log group's name (topology.AuditLogGroupName), when one is
	// declared.
	AuditLog string `json:"auditLog,omitempty"`
	// AuditBucket and AuditSigningKeyARN are the audit export's bucket and signing key, when
	// one is declared.
	AuditBucket        string   `json:"auditBucket,omitempty"`
	AuditSigningKeyARN string   `json:"auditSigningKeyArn,omitempty"`
	Streams            []Stream `json:"-"`
	Changes            []Change `json:"changes"`

	busARN    string
	queueARNs map[string]string // local queue name → ARN
	fnARNs    map[string]string // declared name → function ARN
}

// Changed reports whether the run created or updated anything.
func (r *Result) Changed() bool {
	for _, c := range r.Changes {
		if c.Action != Unchanged {
			return true
		}
	}
	return false
}

// Options configures a run.
type Options struct {
	// Prefix starts every local resource name ("lanyard": lanyard-healthcheck, lanyard-bus …).
	Prefix string
	// CodeDir holds <function>/function.zip (bin/local).
	CodeDir string
	// DynamoDBEndpoint, APIGatewayEndpoint and XRayDaemon are given to every function as
	// AWS_ENDPOINT_URL_DYNAMODB (and _DYNAMODB_STREAMS), AWS_ENDPOINT_URL_API_GATEWAY and
	// AWS_XRAY_DAEMON_ADDRESS, so they reach DynamoDB Local, the local API front and the local
	// trace collector.
	DynamoDBEndpoint   string
	APIGatewayEndpoint string
	XRayDaemon         string
	// Region and Account are where the functions live (topology.ValueFunction ARNs).
	Region, Account string
	// APIStageARN is the execute-api ARN of the stage the local API front serves
	// (topology.ValueAPIStage).
	APIStageARN string
	// ExtraEnv is added to every function's environment (e.g. LANYARD_LOG_LEVEL).
	ExtraEnv map[string]string
	// Wait bounds each wait for a function to become ready.
	Wait time.Duration
}

// SecretsPrefix is the local name prefix of the partner key secrets (topology.ValueSecrets):
// "<prefix>/partners/", so each local deployment's secrets stay apart.
func (o Options) SecretsPrefix() string { return partnersecret.Prefix(o.Prefix) }

// Name is the local name of a declared resource.
func (o Options) Name(name string) string { return o.Prefix + "-" + name }

// Provisioner applies a topology.
type Provisioner struct {
	Clients Clients
	Options Options
}

// Apply provisions t.
func (p *Provisioner) Apply(ctx context.Context, t *topology.Topology) (*Result, error) {
	if p.Options.Prefix == "" {
		return nil, fmt.Errorf("provision: no name prefix")
	}
	if p.Options.Wait == 0 {
		p.Options.Wait = 60 * time.Second
	}
	r := &Result{Tables: map[string]string{}, Functions: map[string]string{}, Queues: map[string]string{},
		Roles: map[string]string{}, UsagePlans: map[string]string{},
		queueARNs: map[string]string{}, fnARNs: map[string]string{}}
	steps := []struct {
		name string
		run  func(context.Context, *topology.Topology, *Result) error
	}{
		{"key", p.key},
		{"bus", p.bus},
		{"audit log", p.auditLog},
		{"audit export", p.auditExport},
		{"tables", p.tables},
		{"queues", p.queues},
		{"roles", p.roles},
		{"usage plans", p.usagePlans},
		{"functions", p.functions},
		{"consumers", p.consumers},
		{"schedules", p.schedules},
		{"streams", p.streams},
	}
	for _, s := range steps {
		if err := s.run(ctx, t, r); err != nil {
			return r, fmt.Errorf("provision %s: %w", s.name, err)
		}
	}
	sort.SliceStable(r.Changes, func(i, j int) bool { return r.Changes[i].Kind < r.Changes[j].Kind })
	return r, nil
}

func (r *Result) record(kind, name string, a Action, detail string) {
	r.Changes = append(r.Changes, Change{Kind: kind, Name: name, Action: a, Detail: detail})
}
