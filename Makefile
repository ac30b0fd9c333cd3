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

bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem ./...
