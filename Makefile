# Passerelle: build, test, demo. Everything needs cgo (SQLite) and the goolm tag (pure-Go Olm).
export CGO_ENABLED := 1
GO ?= go
TAGS := goolm
LDFLAGS := -X main.Tag=$(shell git describe --exact-match --tags 2>/dev/null) -X main.Commit=$(shell git rev-parse HEAD 2>/dev/null) -X 'main.BuildTime=$(shell date -Iseconds)'

.PHONY: build test vet demo bench fmt

build:
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o passerelle ./cmd/passerelle

# The whole suite: unit tests, test servers and end-to-end tests against a real Dendrite,
# on PostgreSQL and SQLite.
test:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -tags $(TAGS) -timeout 45m ./...

vet:
	$(GO) vet -tags $(TAGS) ./...

fmt:
	gofmt -w $(shell git ls-files '*.go')

# A homeserver, the bridge and protocol test servers with simulated contacts, no accounts needed.
demo:
	$(GO) run -tags $(TAGS) ./cmd/passerelle-demo

# The bridge against its baselines (Dendrite, PostgreSQL, Telegram test server on loopback): a
# table on stdout, bench/results/latest.csv, see docs/performance.md. BENCHFLAGS=-short for a
# quick check, BENCHFLAGS="-n 1000" for more messages. Package micro-benchmarks: go test -bench.
BENCHFLAGS ?=
bench:
	$(GO) run -tags $(TAGS) ./cmd/passerelle-bench $(BENCHFLAGS)
