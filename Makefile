# Lanyard — the front door. `make help` lists every target.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO_TEST_FLAGS ?= -timeout 15m

.PHONY: help
help: ## List every target with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: dev
dev: ## Run the whole suite locally: LocalStack + DynamoDB Local + `lanyard local` in the foreground (Ctrl-C stops all)
	scripts/dev.sh

.PHONY: tools
tools: ## Install the pinned tools (CDK CLI from package-lock.json, golangci-lint) into ignored folders
	scripts/tools.sh

.PHONY: build
build: ## Build every function for Lambda (linux/arm64) as bin/<name>/bootstrap + function.zip
	scripts/build.sh lambda

.PHONY: build-local
build-local: ## Build every function (and the integration test functions) for this machine into bin/local/
	scripts/build.sh local

.PHONY: synth
synth: build ## Synthesize the CDK app into cdk.out/ (builds the function packages first)
	scripts/tools.sh node
	CDK_DISABLE_VERSION_CHECK=1 npx --no-install cdk synth --quiet --no-notices

.PHONY: policy
policy: ## Check policy/policy.json (schema, rules, no local account) and the local overlay policy/local.json (every build runs it)
	go run ./policy/cmd/policycheck -overlay policy/local.json policy/policy.json

.PHONY: lint
lint: ## gofmt, go vet, golangci-lint (gosec, errorlint, bodyclose, contextcheck, …), OpenAPI document check
	scripts/tools.sh lint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet -tags integration,faultinject,lanyardlocal ./...
	.tools/bin/golangci-lint run ./...
	scripts/localstack.sh install
	.venv-localstack/bin/python -m openapi_spec_validator shared/domain/openapi/openapi.json

.PHONY: unit
unit: ## Unit and CDK assertion tests (no servers needed)
	go test $(GO_TEST_FLAGS) ./...
	go test $(GO_TEST_FLAGS) -tags faultinject ./shared/platform/faultinject/ ./functions/rotation/ ./functions/authorizer/
	go test $(GO_TEST_FLAGS) -tags lanyardlocal ./shared/domain/policy/

.PHONY: test-executor
test-executor: ## pytest tests of the LocalStack runtime executor plugin (local/executor/)
	scripts/localstack.sh install
	.venv-localstack/bin/python -m pytest local/executor/tests -q -p no:cacheprovider

.PHONY: integration
integration: build-local ## Integration suite against LocalStack + DynamoDB Local (starts and stops what it needs)
	scripts/integration.sh

.PHONY: test
test: lint unit test-executor integration ## Everything CI runs: lint, unit, CDK assertion, executor and integration tests

.PHONY: bench
bench: build-local ## Benchmarks, each as a ratio against a baseline in the same run (unit, then against LocalStack)
	scripts/bench.sh

.PHONY: local-up
local-up: ## Install as needed and start LocalStack (127.0.0.1:4566) and DynamoDB Local (127.0.0.1:8000)
	scripts/local.sh up

.PHONY: local-down
local-down: ## Stop LocalStack, DynamoDB Local and every function process
	scripts/local.sh down

.PHONY: local-status
local-status: ## What runs locally, on which port, healthy or not
	scripts/local.sh status

.PHONY: diagram
diagram: ## Regenerate the README's topology diagram from topology/
	go test ./topology -run TestREADMEDiagramIsCurrent -count=1 -update

.PHONY: vuln
vuln: ## govulncheck against its online database (fails where that database is unreachable)
	go run golang.org/x/vuln/cmd/govulncheck@v1.9.0 ./...

.PHONY: clean
clean: ## Remove build outputs (bin/, cdk.out/) and local server state (.state/); keeps the venv and tools
	rm -rf bin cdk.out .state
