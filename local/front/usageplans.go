package front

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// How long APIGatewayPlans keeps an answer: a plan found, and a usage identifier in no plan
// (short, so a partner enrolled just after its first request is throttled soon).
const (
	DefaultPlanCacheTTL = 30 * time.Second
	DefaultPlanMissTTL  = 5 * time.Second
)

// maxPlanEntries bounds APIGatewayPlans' cache; past it, expired entries are dropped.
const maxPlanEntries = 1024

// PlansAPI is the part of the API Gateway client APIGatewayPlans calls.
type PlansAPI interface {
	GetApiKeys(ctx context.Context, in *apigateway.GetApiKeysInput, optFns ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error)
	GetUsagePlans(ctx context.Context, in *apigateway.GetUsagePlansInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
}

var _ PlansAPI = (*apigateway.Client)(nil)

// APIGatewayPlans is the UsagePlanSource of lanyard local: it asks LocalStack's API Gateway
// for the API key whose value is the usage identifier (GetApiKeys with includeValues, every
// page, the value compared in full, as API Gateway matches keys) and for the usage plan that
// key is in (GetUsagePlans with keyId), and keeps the answer for a while. Set its fields
// before the first Lookup; it is safe for concurrent use.
//
// A key that does not exist or is disabled, a key in no plan and a plan without a throttle
// are all "not found": the front does not throttle them.
type APIGatewayPlans struct {
	// Client is LocalStack's API Gateway (not the front: the front passes management calls
	// through to it anyway, but asking it directly keeps lookups out of the front's stats).
	Client PlansAPI
	// APIID and Stage, when both set, count only the plans associated with that API stage,
	// the only plan API Gateway applies on it. Empty, every plan of the key counts (under
	// lanyard local the API exists only in the front, so its plans name no stage). A key in
	// more than one counted plan is an error, as API Gateway allows one plan per stage.
	APIID, Stage string
	// TTL and MissTTL are how long a plan found, and a usage identifier in no plan, are
	// reused (0: DefaultPlanCacheTTL, DefaultPlanMissTTL). Failed lookups are not kept.
	TTL, MissTTL time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]planEntry
}

type planEntry struct {
	throttle Throttle
	found    bool
	expires  time.Time
}

// Lookup implements UsagePlanSource.
func (p *APIGatewayPlans) Lookup(ctx context.Context, usageKey string) (Throttle, bool, error) {
	now := p.now()
	p.mu.Lock()
	e, ok := p.cache[usageKey]
	p.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.throttle, e.found, nil
	}

	t, found, err := p.lookup(ctx, usageKey)
	if err != nil {
		return Throttle{}, false, err
	}
	ttl := p.MissTTL
	if ttl <= 0 {
		ttl = DefaultPlanMissTTL
	}
	if found {
		if ttl = p.TTL; ttl <= 0 {
			ttl = DefaultPlanCacheTTL
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache == nil {
		p.cache = map[string]planEntry{}
	}
	if len(p.cache) >= maxPlanEntries {
		for k, old := range p.cache {
			if !now.Before(old.expires) {
				delete(p.cache, k)
			}
		}
	}
	p.cache[usageKey] = planEntry{throttle: t, found: found, expires: now.Add(ttl)}
	return t, found, nil
}

func (p *APIGatewayPlans) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *APIGatewayPlans) lookup(ctx context.Context, usageKey string) (Throttle, bool, error) {
	keyID, err := p.enabledKey(ctx, usageKey)
	if err != nil || keyID == "" {
		return Throttle{}, false, err
	}

	var counted []string
	var throttle *Throttle
	pages := apigateway.NewGetUsagePlansPaginator(p.Client, &apigateway.GetUsagePlansInput{KeyId: aws.String(keyID)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return Throttle{}, false, fmt.Errorf("usage plans of API key %s: %w", keyID, err)
		}
		for _, plan := range page.Items {
			if p.APIID != "" && p.Stage != "" && !slices.ContainsFunc(plan.ApiStages, func(s types.ApiStage) bool {
				return aws.ToString(s.ApiId) == p.APIID && aws.ToString(s.Stage) == p.Stage
			}) {
				continue
			}
			counted = append(counted, aws.ToString(plan.Id))
			if th := plan.Throttle; th != nil {
				throttle = &Throttle{Rate: th.RateLimit, Burst: int(th.BurstLimit)}
			} else {
				throttle = nil
			}
		}
	}
	switch {
	case len(counted) > 1:
		return Throttle{}, false, fmt.Errorf("API key %s is in %d usage plans (%s); API Gateway allows one per API stage",
			keyID, len(counted), strings.Join(counted, ", "))
	case throttle == nil:
		return Throttle{}, false, nil
	}
	return *throttle, true, nil
}

// enabledKey finds the id of the enabled API key whose value is usageKey, or "".
func (p *APIGatewayPlans) enabledKey(ctx context.Context, usageKey string) (string, error) {
	pages := apigateway.NewGetApiKeysPaginator(p.Client, &apigateway.GetApiKeysInput{IncludeValues: aws.Bool(true)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("API key of usage identifier %s: %w", usageKey, err)
		}
		for _, k := range page.Items {
			if aws.ToString(k.Value) == usageKey {
				if !k.Enabled {
					return "", nil
				}
				return aws.ToString(k.Id), nil
			}
		}
	}
	return "", nil
}
