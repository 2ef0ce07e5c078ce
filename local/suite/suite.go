// Package suite is `lanyard local`: the whole of Lanyard on one machine. It does exactly what
// LocalStack community cannot, with the production functions:
//
//   - provisions the declared topology into LocalStack and DynamoDB Local (local/provision);
//   - fronts the REST routes like API Gateway, with the REQUEST authorizer, its policy cache,
//     SigV4 on admin routes, usage-plan throttling per partner and problem+json gateway
//     responses (local/front); the local credentials are the deployment's declared dependent,
//     so they may introspect, and the front refuses any other signer there as the REST API's
//     resource policy does;
//   - polls the tables' streams and invokes their consumers as a DynamoDB event source mapping
//     would (local/streams);
//   - drives rotation schedules: RotateSecret for partner secrets that are due
//     (local/rotation), since LocalStack never fires them;
//   - keeps the trace segments the functions send (local/traces), since LocalStack has no X-Ray.
//
// Everything else — Invoke, SQS event source mappings, EventBridge rules and schedules, Secrets
// Manager rotation — is LocalStack's own, calling our functions through the runtime executor.
// `lanyard local down` (Down, provision.Down) removes a deployment again.
//
// # The package's integration tests
//
// They provision each topology once per package: the first test asking for a topology
// (shared, keyed by the topology's name) provisions it under a prefix of its own; the tests
// after it use the same running suite; when the package's tests are done it is stopped and
// removed with provision.Down. The shared topologies are the production declaration
// ("lanyard": partner names, STS-identity onboarding, concurrent onboardings, throttling, the
// production open routes, the replay window, copied idempotency keys, rotation through
// LocalStack, rotation switched on at onboarding, rotation on demand), the sample ("sample":
// signed admin requests, stream records, traces), and the production declaration with a
// recorder of onboarding's events ("onboarding-recorder", "onboarding-decisions"), with the
// token function's capture build ("token-capture"), and the outbox alone ("outbox").
//
// Tests sharing a deployment keep apart by partner: each onboards its own partners, and
// reads only its own partners' items, keys and secrets (by partner id or name, or, for what
// bears neither — a refusal's idempotency record, the partner secrets an onboarding created,
// the function logs it waits for — what is new since the test began; so those tests do not run
// in parallel with one another).
//
// A test gets a deployment of its own, under a fresh prefix, only where it must change the
// deployment or needs one nothing else touches; these run in parallel with one another once
// the shared-deployment tests are done (most wait on schedules and rotations, not on the CPU):
//
//   - TestRotationConvergesAfterACrashAfterEachAWSCall: fault injection, LANYARD_FAULT set in
//     the rotation function's environment.
//   - TestAuthorizerPausesAfterItsRegistryRead: a pause injected into the authorizer
//     (LANYARD_FAULT in its environment), which would hold every other test's requests.
//   - TestScheduledRotationThroughLocal: compressed rotation days (RotationDay, a scheduler
//     looking every 200 ms), which would rotate every other test's partners.
//   - TestPickUpAcknowledgeAndRetireThroughLocal: the retirement schedule retires a key and
//     flushes the stage's authorizer cache; the test waits for that flush, which another
//     test's could stand in for, and which empties every other test's cached policies.
//   - TestFrontAuthorizesPartnerRoutesWithACachedPolicy: flushes the stage cache itself and
//     counts the front's authorizer calls and cache hits, which other tests' requests would
//     move.
//   - TestRequestInFlightDuringTheRevokeIsRefusedOnceTheGatewayEnforcerFlushes: pauses the
//     authorizer after its registry read (LANYARD_FAULT), which would slow every other test.
//   - TestFailingEnforcerDeadLettersAndTheRevocationStalls: a gateway enforcer that cannot
//     flush, one receive per message, and a 5-second revocation budget.
//   - TestRefusedOnboardingsBecomeAggregateAuditLines: 5-second refusal windows
//     (LANYARD_REFUSAL_WINDOW on onboarding and audit-refusals), and counts of refused
//     onboardings no other test adds to.
//   - TestScheduleFiresItsFunction: adds a schedule to the sample.
//   - TestEventReachesExactlyTheMatchingConsumers: adds a consumer, its function and its
//     table to the sample, and checks each consumer got exactly its event.
//   - TestFailingRecordIsRedeliveredAloneThenDeadLettered: shortens the consumer function's
//     timeout and its queue's visibility timeout, and checks exactly what the DLQ holds.
//   - TestREADMEMakeDevSampleIsCurrent: compares what a first run prints (everything
//     created) with the README.
package suite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/local/provision"
	"github.com/lanyardhq/lanyard/local/rotation"
	"github.com/lanyardhq/lanyard/local/streams"
	"github.com/lanyardhq/lanyard/local/traces"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
	"github.com/lanyardhq/lanyard/topology"
)

// Local account, region and credentials: LocalStack's defaults.
const (
	Account = "000000000000"
	Region  = "us-east-1"
	APIID   = "lanyard"
)

// Options configures a local run.
type Options struct {
	Topology *topology.Topology
	// Prefix starts every local resource name (default "lanyard").
	Prefix string
	// CodeDir holds the `make build-local` zips (default "bin/local").
	CodeDir string
	// Listen is the API front's address (default 127.0.0.1:4510; port 0 picks one).
	Listen string
	// XRayListen is where the trace collector listens (default 127.0.0.1:2000; port 0 picks one).
	XRayListen string
	// LocalStackURL and DynamoDBURL locate the servers (defaults http://127.0.0.1:4566 and
	// http://127.0.0.1:8000).
	LocalStackURL string
	DynamoDBURL   string
	// PollInterval of the stream poller (0: its default).
	PollInterval time.Duration
	// RotationInterval is how often the rotation scheduler looks for due secrets (0: its
	// default); RotationDay is how long a rotation "day" lasts (0: 24 hours; "1s" compresses
	// AutomaticallyAfterDays to seconds for demos and tests).
	RotationInterval time.Duration
	RotationDay      time.Duration
	// AuditWindow is the audit export's window (0: the policy's audit.exportWindow, an hour):
	// "1m" exports a window a minute, each once AuditWindow/6 (at least a second) has passed
	// after its end, so a local trail grows while one watches.
	AuditWindow time.Duration
	// Signers are further local principals the front admits on aws-iam routes besides the
	// local credentials (front.Config.Signers): a test's second caller.
	Signers []front.Signer
	// FunctionEnv is added to every function's environment (e.g. LANYARD_LOG_LEVEL).
	// LANYARD_KEY_ENVIRONMENT is "locl" unless it says otherwise: keys issued locally say so in
	// their prefix, and secret scanners tell them from live ones.
	FunctionEnv map[string]string
	Logger      *slog.Logger
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = "lanyard"
	}
	if o.CodeDir == "" {
		o.CodeDir = "bin/local"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4510"
	}
	if o.XRayListen == "" {
		o.XRayListen = "127.0.0.1:2000"
	}
	if o.LocalStackURL == "" {
		o.LocalStackURL = "http://127.0.0.1:4566"
	}
	if o.DynamoDBURL == "" {
		o.DynamoDBURL = "http://127.0.0.1:8000"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// The local credentials are the deployment's dependent, as they are its ops: they may
	// introspect, unless the topology declares its own dependents.
	if o.Topology != nil && o.Topology.Dependents == nil {
		tp := *o.Topology
		tp.Dependents = []string{front.LocalPrincipalARN(Account)}
		o.Topology = &tp
	}
	o.FunctionEnv = maps.Clone(o.FunctionEnv)
	if o.FunctionEnv == nil {
		o.FunctionEnv = map[string]string{}
	}
	if o.AuditWindow > 0 {
		o.FunctionEnv[lambdastart.AuditExportWindowVar] = o.AuditWindow.String()
		o.FunctionEnv[lambdastart.AuditExportDelayVar] = max(time.Second, (o.AuditWindow / 6).Truncate(time.Second)).String()
	}
	if _, ok := o.FunctionEnv[KeyEnvironmentVar]; !ok {
		o.FunctionEnv[KeyEnvironmentVar] = string(credential.EnvLocal)
	}
}

// KeyEnvironmentVar names the environment variable that tells functions which environment code
// the partner keys they issue carry (shared/domain/credential).
const KeyEnvironmentVar = "LANYARD_KEY_ENVIRONMENT"

// Suite is a running local environment.
type Suite struct {
	// Provisioned is what provisioning created or found.
	Provisioned *provision.Result
	// APIURL is the base URL of the API front ("http://127.0.0.1:4510"); routes are served under
	// it with or without the stage prefix "/local".
	APIURL string
	// Traces collects the functions' trace segments.
	Traces *traces.Collector
	// Front is the API front (its Stats, its cache flush).
	Front *front.Front
	// Config is the AWS configuration the suite's own clients use.
	Config aws.Config

	server *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

// Start binds the front and the collector, provisions the topology (functions learn both
// addresses), then serves the front and polls the streams until Close.
func Start(ctx context.Context, opts Options) (*Suite, error) {
	opts.defaults()
	for what, addr := range map[string]string{"API front": opts.Listen, "trace collector": opts.XRayListen} {
		if err := LoopbackOnly(addr); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := opts.Topology.Validate("", nil); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	cfg, err := opts.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	clients := provision.NewClients(cfg, Account, opts.DynamoDBURL)
	ddbStreams := dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(opts.DynamoDBURL) })
	lambdaClient := lambda.NewFromConfig(cfg)
	sqsClient := sqs.NewFromConfig(cfg)

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("API front: listen on %s: %w", opts.Listen, err)
	}
	collector, err := traces.Listen(opts.XRayListen, traces.Options{Logger: opts.Logger})
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("trace collector: listen on %s: %w", opts.XRayListen, err)
	}
	s := &Suite{APIURL: "http://" + ln.Addr().String(), Traces: collector, Config: cfg, errs: make(chan error, 3)}
	fail := func(err error) (*Suite, error) {
		_ = ln.Close()
		_ = collector.Close()
		return nil, err
	}

	p := &provision.Provisioner{
		Clients: clients,
		Options: provision.Options{
			Prefix: opts.Prefix, CodeDir: opts.CodeDir, DynamoDBEndpoint: opts.DynamoDBURL,
			APIGatewayEndpoint: s.APIURL, XRayDaemon: collector.Addr(), ExtraEnv: opts.FunctionEnv,
			Region: Region, Account: Account,
			APIStageARN: "arn:aws:execute-api:" + Region + ":" + Account + ":" + APIID + "/" + front.DefaultStage,
		},
	}
	s.Provisioned, err = p.Apply(ctx, opts.Topology)
	if err != nil {
		return fail(err)
	}

	passthrough, err := url.Parse(opts.LocalStackURL)
	if err != nil {
		return fail(fmt.Errorf("LocalStack URL: %w", err))
	}
	invoker := invoke.Lambda{Client: lambdaClient}
	s.Front, err = front.New(front.Config{
		Topology:     opts.Topology,
		FunctionName: func(name string) string { return s.Provisioned.Functions[name] },
		Invoker:      invoker,
		Region:       Region, AccountID: Account, APIID: APIID,
		Credentials: cfg.Credentials,
		Signers:     opts.Signers,
		Passthrough: passthrough,
		Logger:      opts.Logger,
		// The declared usage plans, as LocalStack holds them, throttle each usage identifier.
		UsagePlans: &front.APIGatewayPlans{Client: apigateway.NewFromConfig(cfg)},
	})
	if err != nil {
		return fail(fmt.Errorf("API front: %w", err))
	}

	var consumers []streams.Consumer
	for _, b := range s.Provisioned.Streams {
		consumers = append(consumers, streams.Consumer{
			Settings: b.Consumer, StreamARN: b.StreamARN, Function: b.Function, OnFailureQueueURL: b.OnFailureQueue,
		})
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.server = &http.Server{Handler: s.Front, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- fmt.Errorf("API front: %w", err)
		}
	}()
	// LocalStack records rotation schedules but never fires them: the scheduler calls
	// RotateSecret for this deployment's partner secrets that are due.
	scheduler := &rotation.Scheduler{
		Secrets: secretsmanager.NewFromConfig(cfg), Prefix: p.Options.SecretsPrefix(),
		Interval: opts.RotationInterval, DayLength: opts.RotationDay, Logger: opts.Logger,
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := scheduler.Run(runCtx); err != nil {
			s.errs <- fmt.Errorf("rotation scheduler: %w", err)
		}
	}()
	if len(consumers) > 0 {
		poller := &streams.Poller{Streams: ddbStreams, Invoker: invoker, Queue: sqsClient, Consumers: consumers,
			Logger: opts.Logger, PollInterval: opts.PollInterval, Region: Region}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := poller.Run(runCtx); err != nil {
				s.errs <- fmt.Errorf("stream poller: %w", err)
			}
		}()
	}
	return s, nil
}

// awsConfig is the configuration of the suite's clients: LocalStack's region, credentials and
// endpoint.
func (o *Options) awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.Load(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(o.LocalStackURL),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return cfg, nil
}

// Down removes the deployment of opts.Topology under opts.Prefix from LocalStack and DynamoDB
// Local (provision.Down): what it removed, and what AWS keeps on purpose. A running suite under
// that prefix should be stopped first.
func Down(ctx context.Context, opts Options) (*provision.Teardown, error) {
	opts.defaults()
	cfg, err := opts.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	td, err := provision.Down(ctx, provision.NewClients(cfg, Account, opts.DynamoDBURL), opts.Topology, opts.Prefix)
	if err != nil {
		return td, fmt.Errorf("down %s: %w", opts.Prefix, err)
	}
	return td, nil
}

// LoopbackOnly refuses a listen address outside the loopback range. The API front admits admin
// calls signed with LocalStack's well-known credentials and answers for functions that trust
// it, and the trace collector takes segments from anyone: both are for this machine alone.
func LoopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q is not a loopback address (127.0.0.1, ::1): the local suite serves this machine only", addr)
	}
	return nil
}

// Err delivers the first error that stops a part of the suite while it runs.
func (s *Suite) Err() <-chan error { return s.errs }

// Close stops the front (letting requests in flight finish within ctx), the poller and the
// collector. LocalStack and DynamoDB Local, and what was provisioned in them, stay.
func (s *Suite) Close(ctx context.Context) error {
	err := s.server.Shutdown(ctx)
	s.cancel()
	s.wg.Wait()
	return errors.Join(err, s.Traces.Close())
}
