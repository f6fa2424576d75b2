# gpush: small and phony. Expensive or external targets are opt-in.
GO       ?= go
ARGS     ?=
# The parser fuzz runs a count of executions, not a duration: a duration
# races Go's fuzz coordinator at its deadline and fails with "context
# deadline exceeded" and no crasher on a busy machine (golang/go#75804).
# 300,000 executions take about 10 s here.
FUZZTIME ?= 300000x
# Centrifugo, the external peer of make bench: its version is named here only.
CENTRIFUGO_VERSION := v6.9.1

.PHONY: run build test vet lint bench bench-quick bench-cluster plots proto check-proto soak cluster centrifugo

run: ## start the production server with its embedded defaults
	$(GO) run ./cmd/gpushd $(ARGS)

build: ## gpushd and the harness's floor server
	$(GO) build -o bin/gpushd ./cmd/gpushd
	$(GO) build -o bin/gpush-floor ./cmd/gpush-floor

test: vet ## vet, every test with the race detector, a short fuzz of the frame parser
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -run '^$$' -fuzz FuzzParser -fuzztime $(FUZZTIME) ./core/wsframe/

NATS_PORT ?= 4222
cluster: ## a local NATS server (Debian's nats-server when installed, else cmd/gpush-nats) and three gpushd nodes; Ctrl-C stops them
	$(GO) build -o bin/gpushd ./cmd/gpushd
	$(GO) build -o bin/gpush-nats ./cmd/gpush-nats
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM; \
	if command -v nats-server >/dev/null; then nats-server -a 127.0.0.1 -p $(NATS_PORT) & \
	else bin/gpush-nats -addr 127.0.0.1:$(NATS_PORT) & fi; \
	for i in 1 2 3; do bin/gpushd -broker nats://127.0.0.1:$(NATS_PORT) -node-id node$$i -log-level warn \
		-ws-addr 127.0.0.1:899$$i -grpc-addr 127.0.0.1:909$$i -http-addr 127.0.0.1:808$$i $(ARGS) & done; \
	sleep 2; \
	echo "cluster: NATS nats://127.0.0.1:$(NATS_PORT); node N (1-3): ws://127.0.0.1:899N/ws, gRPC 127.0.0.1:909N, http://127.0.0.1:808N (/readyz, /metrics)"; \
	echo "listen on node 1: go run ./cmd/gpushc -url ws://127.0.0.1:8991/ws -topic news"; \
	echo "push on node 3:   curl -s -X POST -H 'Content-Type: application/json' http://127.0.0.1:8083/v1/pushData -d '{\"topic\":\"news\",\"data\":\"aGVsbG8=\"}'"; \
	echo "Ctrl-C stops all four."; \
	wait

soak: ## minutes of thousands of connections: churn, floods, slow consumers, split frames (GPUSH_SOAK=3m, GPUSH_SOAK_CONNS=4000)
	GPUSH_SOAK=$${GPUSH_SOAK:-3m} $(GO) test -run TestSoak -count=1 -timeout 30m -v ./internal/soak/

vet:
	$(GO) vet ./...

lint: vet ## gofmt, go vet, and staticcheck at the version pinned in tools/go.mod
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	cd tools && $(GO) build -o $(CURDIR)/bin/ honnef.co/go/tools/cmd/staticcheck
	bin/staticcheck ./...

centrifugo: ## build Centrifugo $(CENTRIFUGO_VERSION) into bin/ (once: kept while bin/centrifugo is that version)
	@if [ "$$($(GO) version -m bin/centrifugo 2>/dev/null | awk '$$1=="mod" {print $$3}')" = "$(CENTRIFUGO_VERSION)" ]; then \
		echo "bin/centrifugo is $(CENTRIFUGO_VERSION)"; \
	else GOBIN=$(CURDIR)/bin $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION); fi

bench: build centrifugo ## every scenario x every variant and peer, 3 runs each (< 60 min); results/ and plots
	$(GO) run ./cmd/gpush-bench -server bin/gpushd -profile full -runs 3 -out results $(ARGS)

bench-cluster: build ## the cluster scenario: 1,000 subscribers per node on 1, 2 and 3 nodes, each total on one node and the floor beside, NATS as its own process (Debian's nats-server or bin/gpush-nats), 3 runs
	$(GO) build -o bin/gpush-nats ./cmd/gpush-nats
	$(GO) run ./cmd/gpush-bench -server bin/gpushd -scenarios cluster -variants epoll-sharded-batched,floor -profile full -runs 3 -out results/cluster $(ARGS)

bench-quick: build ## every scenario at small scale (< 3 min), into results/quick
	$(GO) run ./cmd/gpush-bench -server bin/gpushd -profile quick -runs 1 -out results/quick $(ARGS)

plots: ## rebuild plots and the summary from raw results alone
	$(GO) run ./cmd/gpush-bench -plots -out results

proto: ## regenerate proto/pushpb from proto/push.proto (offline, pinned generators)
	bash proto/gen.sh

check-proto: ## fail when regeneration would change a committed file
	bash proto/check.sh
