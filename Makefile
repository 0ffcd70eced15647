# cfgate — the two commands a newcomer needs:
#   make run    installs the player's pinned front-end packages, then starts the local distribution
#   make test   installs what the tests need (apt, npm, staticcheck) and runs the whole suite
# CI runs `make test` (.ci/run).

SHELL := /bin/bash
GO ?= go
STATICCHECK_VERSION ?= v0.8.2
# gcc and libc6-dev: go test -race needs cgo (the build machine has them; a bare Debian does not).
APT_PACKAGES ?= chromium ffmpeg openssl webkit2gtk-driver xvfb gstreamer1.0-libav gstreamer1.0-plugins-bad gcc libc6-dev
FUZZTIME ?= 10s
export GOFLAGS ?= -mod=readonly

.PHONY: run test deps deps-apt deps-npm deps-go deps-python lint unit fuzz bench

run: deps-npm
	$(GO) run ./distribution

test: deps lint unit fuzz

deps: deps-apt deps-npm deps-go deps-python

# Debian packages: install only what is missing, so a warm machine skips apt.
deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps-npm:
	@if [ -f distribution/player/package.json ]; then npm ci --prefix distribution/player --no-audit --no-fund --loglevel=error; fi

deps-go:
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# moto[server], cfn-lint and botocore come from the build machine's Python.
deps-python:
	@for t in moto_server cfn-lint python3; do command -v $$t >/dev/null || { echo "missing $$t: pip install 'moto[server]' cfn-lint boto3" >&2; exit 1; }; done
	@python3 -c 'import botocore, moto' || { echo "python3 lacks botocore/moto: pip install 'moto[server]' boto3" >&2; exit 1; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './distribution/player/node_modules/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	@if [ -f template.yaml ]; then cfn-lint template.yaml; fi

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# Each fuzz target runs for FUZZTIME on top of its committed seed corpus
# (.ci/fuzz explains its one retry, for a Go 1.26 fuzz-coordinator race).
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) .ci/fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
