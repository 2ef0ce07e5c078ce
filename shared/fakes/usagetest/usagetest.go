// Package usagetest is an in-memory API Gateway holding API keys and usage plans, with the
// semantics Enroll and the local front's usage plan lookup rely on, as AWS has them:
// API key values are unique (ConflictException), GetApiKeys' nameQuery matches name prefixes
// and pages, values come back only with includeValues, a key is in a plan once
// (ConflictException) and never in two plans that share an API stage (ConflictException),
// unknown plans and keys are NotFoundException.
//
// LocalStack 4.7.0 differs on two of these, and the fake follows AWS: it accepts
// CreateUsagePlanKey for a key already in the plan, and for a plan id that does not exist.
package usagetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// Operation names, as Calls and Fail name them.
const (
	OpCreateApiKey       = "CreateApiKey"
	OpGetApiKeys         = "GetApiKeys"
	OpCreateUsagePlanKey = "CreateUsagePlanKey"
	OpGetUsagePlanKey    = "GetUsagePlanKey"
	OpGetUsagePlans      = "GetUsagePlans"
	OpUpdateApiKey       = "UpdateApiKey"
)

// APIGateway is the fake. The zero value is ready; set its fields before the first call.
type APIGateway struct {
	// PageSize is the page length of GetApiKeys and GetUsagePlans when the call sets no
	// Limit (AWS: 25).
	PageSize int
	// Fail, when set, is asked before each operation; an error it returns is the answer.
	Fail func(op string) error

	mu    sync.Mutex
	seq   int
	keys  []types.ApiKey // in creation order
	plans []*plan
	calls map[string]int
}

type plan struct {
	types.UsagePlan
	keys []string // key ids
}

// AddPlan creates a usage plan and returns its id.
func (f *APIGateway) AddPlan(name string, throttle *types.ThrottleSettings, stages ...types.ApiStage) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.newID("plan")
	f.plans = append(f.plans, &plan{UsagePlan: types.UsagePlan{
		Id: aws.String(id), Name: aws.String(name), Throttle: throttle, ApiStages: stages,
	}})
	return id
}

// AddKey creates an API key directly (as another tool would have), returning its id.
func (f *APIGateway) AddKey(name, value string, enabled bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.newID("key")
	f.keys = append(f.keys, types.ApiKey{Id: aws.String(id), Name: aws.String(name), Value: aws.String(value), Enabled: enabled})
	return id
}

// Keys returns every API key, values included.
func (f *APIGateway) Keys() []types.ApiKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keys)
}

// PlanKeys returns the ids of the keys in a plan.
func (f *APIGateway) PlanKeys(planID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.plan(planID); p != nil {
		return slices.Clone(p.keys)
	}
	return nil
}

// Calls is how many times op was called.
func (f *APIGateway) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *APIGateway) enter(op string) error {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	fail := f.Fail
	f.mu.Unlock()
	if fail != nil {
		return fail(op)
	}
	return nil
}

func (f *APIGateway) newID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%06d", prefix, f.seq)
}

func (f *APIGateway) plan(id string) *plan {
	for _, p := range f.plans {
		if aws.ToString(p.Id) == id {
			return p
		}
	}
	return nil
}

func (f *APIGateway) key(id string) *types.ApiKey {
	for i := range f.keys {
		if aws.ToString(f.keys[i].Id) == id {
			return &f.keys[i]
		}
	}
	return nil
}

// CreateApiKey implements usage.APIGatewayAPI.
func (f *APIGateway) CreateApiKey(_ context.Context, in *apigateway.CreateApiKeyInput, _ ...func(*apigateway.Options)) (*apigateway.CreateApiKeyOutput, error) {
	if err := f.enter(OpCreateApiKey); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	value := aws.ToString(in.Value)
	if value == "" {
		value = f.newID("generated-value-")
	}
	if len(value) < 20 || len(value) > 128 {
		return nil, &types.BadRequestException{Message: aws.String("API Key value should be at least 20 characters")}
	}
	for _, k := range f.keys {
		if aws.ToString(k.Value) == value {
			return nil, &types.ConflictException{Message: aws.String("API Key already exists")}
		}
	}
	k := types.ApiKey{
		Id: aws.String(f.newID("key")), Name: in.Name, Value: aws.String(value), Enabled: in.Enabled,
		Description: in.Description, Tags: in.Tags,
	}
	f.keys = append(f.keys, k)
	return &apigateway.CreateApiKeyOutput{
		Id: k.Id, Name: k.Name, Value: k.Value, Enabled: k.Enabled, Description: k.Description, Tags: k.Tags,
	}, nil
}

// GetApiKeys implements usage.APIGatewayAPI.
func (f *APIGateway) GetApiKeys(_ context.Context, in *apigateway.GetApiKeysInput, _ ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error) {
	if err := f.enter(OpGetApiKeys); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []types.ApiKey
	for _, k := range f.keys {
		if !strings.HasPrefix(aws.ToString(k.Name), aws.ToString(in.NameQuery)) {
			continue
		}
		if !aws.ToBool(in.IncludeValues) {
			k.Value = nil
		}
		match = append(match, k)
	}
	items, next, err := page(f, match, in.Limit, in.Position)
	if err != nil {
		return nil, err
	}
	return &apigateway.GetApiKeysOutput{Items: items, Position: next}, nil
}

// UpdateApiKey implements usage.KeyUpdateAPI: the patch operation replace of /enabled
// ("true" or "false") only; an unknown key is NotFoundException.
func (f *APIGateway) UpdateApiKey(_ context.Context, in *apigateway.UpdateApiKeyInput, _ ...func(*apigateway.Options)) (*apigateway.UpdateApiKeyOutput, error) {
	if err := f.enter(OpUpdateApiKey); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(aws.ToString(in.ApiKey))
	if k == nil {
		return nil, &types.NotFoundException{Message: aws.String("Invalid API Key identifier specified")}
	}
	for _, op := range in.PatchOperations {
		v := aws.ToString(op.Value)
		if op.Op != types.OpReplace || aws.ToString(op.Path) != "/enabled" || (v != "true" && v != "false") {
			return nil, &types.BadRequestException{Message: aws.String("Invalid patch operation specified")}
		}
		k.Enabled = v == "true"
	}
	return &apigateway.UpdateApiKeyOutput{Id: k.Id, Name: k.Name, Enabled: k.Enabled}, nil
}

// CreateUsagePlanKey implements usage.APIGatewayAPI.
func (f *APIGateway) CreateUsagePlanKey(_ context.Context, in *apigateway.CreateUsagePlanKeyInput, _ ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error) {
	if err := f.enter(OpCreateUsagePlanKey); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if aws.ToString(in.KeyType) != "API_KEY" {
		return nil, &types.BadRequestException{Message: aws.String("Invalid key type specified")}
	}
	p := f.plan(aws.ToString(in.UsagePlanId))
	if p == nil {
		return nil, &types.NotFoundException{Message: aws.String("Invalid Usage Plan ID specified")}
	}
	k := f.key(aws.ToString(in.KeyId))
	if k == nil {
		return nil, &types.NotFoundException{Message: aws.String("Invalid API Key identifier specified")}
	}
	id := aws.ToString(k.Id)
	if slices.Contains(p.keys, id) {
		return nil, &types.ConflictException{Message: aws.String("Usage Plan " + aws.ToString(p.Id) + " already contains API Key " + id)}
	}
	for _, other := range f.plans {
		if other != p && slices.Contains(other.keys, id) && sharesStage(other.ApiStages, p.ApiStages) {
			return nil, &types.ConflictException{Message: aws.String("Usage Plan " + aws.ToString(p.Id) + " cannot be added because API Key " +
				id + " cannot reference multiple Usage Plans with the same API Stage")}
		}
	}
	p.keys = append(p.keys, id)
	return &apigateway.CreateUsagePlanKeyOutput{Id: k.Id, Name: k.Name, Value: k.Value, Type: aws.String("API_KEY")}, nil
}

// GetUsagePlanKey implements usage.APIGatewayAPI.
func (f *APIGateway) GetUsagePlanKey(_ context.Context, in *apigateway.GetUsagePlanKeyInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeyOutput, error) {
	if err := f.enter(OpGetUsagePlanKey); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.plan(aws.ToString(in.UsagePlanId))
	if p == nil {
		return nil, &types.NotFoundException{Message: aws.String("Invalid Usage Plan ID specified")}
	}
	if !slices.Contains(p.keys, aws.ToString(in.KeyId)) {
		return nil, &types.NotFoundException{Message: aws.String("Invalid API Key identifier specified")}
	}
	k := f.key(aws.ToString(in.KeyId))
	return &apigateway.GetUsagePlanKeyOutput{Id: k.Id, Name: k.Name, Value: k.Value, Type: aws.String("API_KEY")}, nil
}

// GetUsagePlans answers the plans, or with KeyId those the key is in.
func (f *APIGateway) GetUsagePlans(_ context.Context, in *apigateway.GetUsagePlansInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error) {
	if err := f.enter(OpGetUsagePlans); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []types.UsagePlan
	for _, p := range f.plans {
		if in.KeyId == nil || slices.Contains(p.keys, aws.ToString(in.KeyId)) {
			match = append(match, p.UsagePlan)
		}
	}
	items, next, err := page(f, match, in.Limit, in.Position)
	if err != nil {
		return nil, err
	}
	return &apigateway.GetUsagePlansOutput{Items: items, Position: next}, nil
}

func sharesStage(a, b []types.ApiStage) bool {
	for _, x := range a {
		for _, y := range b {
			if aws.ToString(x.ApiId) == aws.ToString(y.ApiId) && aws.ToString(x.Stage) == aws.ToString(y.Stage) {
				return true
			}
		}
	}
	return false
}

// page cuts one page out of items: the position is the index of its first item.
func page[T any](f *APIGateway, items []T, limit *int32, position *string) ([]T, *string, error) {
	size := f.PageSize
	if limit != nil {
		size = int(*limit)
	}
	if size <= 0 {
		size = 25
	}
	start := 0
	if position != nil {
		n, err := strconv.Atoi(*position)
		if err != nil || n < 0 || n > len(items) {
			return nil, nil, &types.BadRequestException{Message: aws.String("Invalid position parameter")}
		}
		start = n
	}
	end := min(start+size, len(items))
	var next *string
	if end < len(items) {
		next = aws.String(strconv.Itoa(end))
	}
	return items[start:end], next, nil
}
