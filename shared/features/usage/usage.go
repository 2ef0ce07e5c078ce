// Package usage gives each partner an API Gateway usage identifier and enrolls it in its tier's
// usage plan, so API Gateway throttles every partner on its own token bucket (flow 1 of the
// design: per-partner throttling).
//
// The REST API takes its usage identifiers from the authorizer (apiKeySource AUTHORIZER): the
// authorizer answers an Allow with usageIdentifierKey = KeyValue(partnerId), and API Gateway
// applies the usage plan that API key belongs to. Clients never present the key — with the
// AUTHORIZER source an x-api-key header is ignored — so its value is no secret: it is derived
// from the partner id, which lets the authorizer name it without a lookup.
//
// Enroll is what onboarding calls: it creates the partner's API key and adds it to the tier's
// plan, and calling it again (a retried onboarding) changes nothing.
package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// Names and tags of a partner's API key.
const (
	// KeyValuePrefix starts every usage identifier: KeyValue(id) is KeyValuePrefix + id.
	KeyValuePrefix = "lanyard-usage-"
	// KeyNamePrefix starts every usage identifier's API key name: KeyName(id) is
	// KeyNamePrefix + id.
	KeyNamePrefix = "lanyard-"
	// TagPartner carries the partner id on the API key.
	TagPartner = "lanyard:partner"
	// KeyTypeAPIKey is the only usage plan key type.
	KeyTypeAPIKey = "API_KEY"
)

// PlansEnv names the environment variable that maps each tier to its usage plan's name, as a
// JSON object ({"sandbox":"lanyard-sandbox",…}; see EncodePlans, DecodePlans and
// ResolvePlans). Names, not ids: in CloudFormation the plans depend on the API's stage, the stage
// on the methods and the methods on the functions, so a function's environment cannot name a
// plan's id without a cycle; a name is fixed before anything is deployed.
const PlansEnv = "USAGE_PLANS"

// API Gateway's bounds on an API key value.
const (
	minKeyValue = 20
	maxKeyValue = 128
)

// KeyValue is the value of a partner's API key: the usage identifier the authorizer returns.
// It is derived from the partner id and is not a secret (see the package documentation).
// Partner ids ("p-" and 26 characters) give 42 characters, within API Gateway's 20 to 128.
func KeyValue(partnerID string) string { return KeyValuePrefix + partnerID }

// KeyName is the name of a partner's API key.
func KeyName(partnerID string) string { return KeyNamePrefix + partnerID }

// PartnerID is the partner a usage identifier was derived from, if it is one of ours.
func PartnerID(keyValue string) (string, bool) {
	id, ok := strings.CutPrefix(keyValue, KeyValuePrefix)
	return id, ok && id != ""
}

// APIGatewayAPI is the part of the API Gateway client Enroll calls.
type APIGatewayAPI interface {
	CreateApiKey(ctx context.Context, in *apigateway.CreateApiKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateApiKeyOutput, error)
	GetApiKeys(ctx context.Context, in *apigateway.GetApiKeysInput, optFns ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error)
	CreateUsagePlanKey(ctx context.Context, in *apigateway.CreateUsagePlanKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error)
	GetUsagePlanKey(ctx context.Context, in *apigateway.GetUsagePlanKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeyOutput, error)
}

var _ APIGatewayAPI = (*apigateway.Client)(nil)

// Enroll gives a partner its API key and adds the key to the usage plan planID; it returns the
// key's id. It is idempotent: a key that already exists for the partner (CreateApiKey answers
// ConflictException for a value in use) is found by name and value and reused, and a key
// already in the plan is left there. A key that is in another plan on the same API stage
// (CreateUsagePlanKey's ConflictException, while the key is not in planID) is an error: moving
// a partner between tiers is not enrollment.
func Enroll(ctx context.Context, client APIGatewayAPI, partnerID, planID string) (string, error) {
	if err := checkPartnerID(partnerID); err != nil {
		return "", fmt.Errorf("enroll partner in usage plan %s: %w", planID, err)
	}
	if planID == "" {
		return "", fmt.Errorf("enroll partner %s: no usage plan id", partnerID)
	}
	name, value := KeyName(partnerID), KeyValue(partnerID)

	keyID := ""
	created, err := client.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{
		Name:        aws.String(name),
		Value:       aws.String(value),
		Enabled:     true,
		Description: aws.String("Usage identifier of Lanyard partner " + partnerID + " (not a credential)"),
		Tags:        map[string]string{TagPartner: partnerID},
	})
	switch {
	case err == nil:
		keyID = aws.ToString(created.Id)
	case isConflict(err):
		keyID, err = findKey(ctx, client, name, value)
		if err != nil {
			return "", fmt.Errorf("enroll partner %s: the API key exists: %w", partnerID, err)
		}
	default:
		return "", fmt.Errorf("enroll partner %s: create API key %s: %w", partnerID, name, err)
	}
	if keyID == "" {
		return "", fmt.Errorf("enroll partner %s: API Gateway returned no id for API key %s", partnerID, name)
	}

	_, err = client.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{
		UsagePlanId: aws.String(planID),
		KeyId:       aws.String(keyID),
		KeyType:     aws.String(KeyTypeAPIKey),
	})
	switch {
	case err == nil:
	case isConflict(err):
		// Already in this plan (a retry), or in another plan on the same stage.
		if _, gerr := client.GetUsagePlanKey(ctx, &apigateway.GetUsagePlanKeyInput{
			UsagePlanId: aws.String(planID), KeyId: aws.String(keyID),
		}); gerr != nil {
			return "", fmt.Errorf("enroll partner %s: add API key %s to usage plan %s: %w (and the key is not in that plan: %w)",
				partnerID, keyID, planID, err, gerr)
		}
	default:
		return "", fmt.Errorf("enroll partner %s: add API key %s to usage plan %s: %w", partnerID, keyID, planID, err)
	}
	return keyID, nil
}

// findKey finds the id of the API key with exactly this name and value. GetApiKeys' nameQuery
// matches names by prefix, so every page is read and each key compared in full.
func findKey(ctx context.Context, client APIGatewayAPI, name, value string) (string, error) {
	p := apigateway.NewGetApiKeysPaginator(client, &apigateway.GetApiKeysInput{
		NameQuery:     aws.String(name),
		IncludeValues: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("look up API key %s: %w", name, err)
		}
		for _, k := range page.Items {
			if aws.ToString(k.Name) == name && aws.ToString(k.Value) == value {
				return aws.ToString(k.Id), nil
			}
		}
	}
	return "", fmt.Errorf("look up API key %s: no key of that name has the partner's value; its value is held by a key of another name", name)
}

// KeyUpdateAPI is the part of the API Gateway client Disable calls.
type KeyUpdateAPI interface {
	GetApiKeys(ctx context.Context, in *apigateway.GetApiKeysInput, optFns ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error)
	UpdateApiKey(ctx context.Context, in *apigateway.UpdateApiKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.UpdateApiKeyOutput, error)
}

var _ KeyUpdateAPI = (*apigateway.Client)(nil)

// Disable disables the partner's API key, so API Gateway refuses its requests at the usage
// plan check even with a cached Allow of the authorizer. It says whether it changed the key:
// false when the key was disabled already, or when the partner has no API key (nothing can
// use one). The key is found by name and value, as Enroll finds it.
func Disable(ctx context.Context, client KeyUpdateAPI, partnerID string) (bool, error) {
	return setEnabled(ctx, client, partnerID, false)
}

// Enable enables the partner's API key again (after a replacement key was issued, once no
// Allow cached for a revoked key can remain). It says whether it changed the key: false when
// the key was enabled already, or when the partner has no API key.
func Enable(ctx context.Context, client KeyUpdateAPI, partnerID string) (bool, error) {
	return setEnabled(ctx, client, partnerID, true)
}

func setEnabled(ctx context.Context, client KeyUpdateAPI, partnerID string, enabled bool) (bool, error) {
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	if err := checkPartnerID(partnerID); err != nil {
		return false, fmt.Errorf("%s the API key of a partner: %w", verb, err)
	}
	name, value := KeyName(partnerID), KeyValue(partnerID)
	p := apigateway.NewGetApiKeysPaginator(client, &apigateway.GetApiKeysInput{
		NameQuery: aws.String(name), IncludeValues: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("%s the API key of partner %s: look up API key %s: %w", verb, partnerID, name, err)
		}
		for _, k := range page.Items {
			if aws.ToString(k.Name) != name || aws.ToString(k.Value) != value {
				continue
			}
			if k.Enabled == enabled {
				return false, nil
			}
			if _, err := client.UpdateApiKey(ctx, &apigateway.UpdateApiKeyInput{
				ApiKey:          k.Id,
				PatchOperations: []types.PatchOperation{{Op: types.OpReplace, Path: aws.String("/enabled"), Value: aws.String(strconv.FormatBool(enabled))}},
			}); err != nil {
				return false, fmt.Errorf("%s the API key %s of partner %s: %w", verb, aws.ToString(k.Id), partnerID, err)
			}
			return true, nil
		}
	}
	return false, nil
}

func isConflict(err error) bool {
	_, ok := errors.AsType[*types.ConflictException](err)
	return ok
}

// checkPartnerID makes sure a partner id gives an API key value API Gateway accepts and that
// reads as ours: letters, digits, '-' and '_' only.
func checkPartnerID(id string) error {
	if id == "" {
		return errors.New("no partner id")
	}
	if n := len(KeyValue(id)); n < minKeyValue || n > maxKeyValue {
		return fmt.Errorf("partner id %q gives an API key value of %d characters, outside %d to %d", id, n, minKeyValue, maxKeyValue)
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return fmt.Errorf("partner id %q has a character other than letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// PlansAPI is the part of API Gateway ResolvePlans calls.
type PlansAPI interface {
	GetUsagePlans(ctx context.Context, in *apigateway.GetUsagePlansInput, opts ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
}

var _ PlansAPI = (*apigateway.Client)(nil)

// ResolvePlans maps each tier's usage plan name (DecodePlans) to the plan's id, reading every
// page of GetUsagePlans once. A name no plan has is an error: the deployment is incomplete.
func ResolvePlans(ctx context.Context, client PlansAPI, names map[string]string) (map[string]string, error) {
	byName := map[string]string{}
	var position *string
	for {
		out, err := client.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{Position: position, Limit: aws.Int32(500)})
		if err != nil {
			return nil, fmt.Errorf("list usage plans: %w", err)
		}
		for _, p := range out.Items {
			byName[aws.ToString(p.Name)] = aws.ToString(p.Id)
		}
		if out.Position == nil || aws.ToString(out.Position) == aws.ToString(position) {
			break
		}
		position = out.Position
	}
	ids := make(map[string]string, len(names))
	for tier, name := range names {
		id, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("usage plan %q of tier %s not found", name, tier)
		}
		ids[tier] = id
	}
	return ids, nil
}

// EncodePlans renders a tier → usage plan name map as PlansEnv's value.
func EncodePlans(plans map[string]string) (string, error) {
	if err := checkPlans(plans); err != nil {
		return "", err
	}
	b, err := json.Marshal(plans)
	if err != nil {
		return "", fmt.Errorf("encode usage plans: %w", err)
	}
	return string(b), nil
}

// DecodePlans reads PlansEnv's value: a JSON object of tier names to usage plan names, none
// empty.
func DecodePlans(s string) (map[string]string, error) {
	var plans map[string]string
	if err := json.Unmarshal([]byte(s), &plans); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object of tier names to usage plan names: %w", PlansEnv, err)
	}
	if err := checkPlans(plans); err != nil {
		return nil, fmt.Errorf("%s: %w", PlansEnv, err)
	}
	return plans, nil
}

func checkPlans(plans map[string]string) error {
	if len(plans) == 0 {
		return errors.New("no usage plans")
	}
	tiers := make([]string, 0, len(plans))
	for tier := range plans {
		tiers = append(tiers, tier)
	}
	sort.Strings(tiers)
	for _, tier := range tiers {
		if tier == "" || plans[tier] == "" {
			return fmt.Errorf("tier %q: empty tier name or usage plan name", tier)
		}
	}
	return nil
}

// Enroller enrolls partners in the usage plan of their tier: the plans named in PlansEnv,
// their ids looked up once (ResolvePlans) and kept. Safe for concurrent use.
type Enroller struct {
	Client interface {
		APIGatewayAPI
		PlansAPI
	}
	// Names maps each tier to its usage plan's name (DecodePlans).
	Names map[string]string

	mu  sync.Mutex
	ids map[string]string
}

// Enroll gives the partner its API key in the usage plan of tier (Enroll).
func (e *Enroller) Enroll(ctx context.Context, partnerID, tier string) error {
	ids, err := e.planIDs(ctx)
	if err != nil {
		return err
	}
	planID, ok := ids[tier]
	if !ok {
		return fmt.Errorf("enroll partner %s: tier %s has no usage plan", partnerID, tier)
	}
	if _, err := Enroll(ctx, e.Client, partnerID, planID); err != nil {
		return err
	}
	return nil
}

// planIDs resolves the plans' ids on first use; a failure is not kept, so the next call tries
// again.
func (e *Enroller) planIDs(ctx context.Context) (map[string]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ids != nil {
		return e.ids, nil
	}
	ids, err := ResolvePlans(ctx, e.Client, e.Names)
	if err != nil {
		return nil, err
	}
	e.ids = ids
	return ids, nil
}
