# sandlock-runtime build, test and demo entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
GO ?= go
BIN := bin/sandlock-runtime
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# staticcheck at the version pinned in hack/tools/go.mod (a tool directive): fetched once by
# `make deps`, then run from the module cache, offline.
TOOLS_MOD := hack/tools/go.mod
STATICCHECK ?= $(GO) tool -modfile=$(TOOLS_MOD) staticcheck
UNIT_PKGS := ./internal/... ./spec/... ./confine/... ./notifsup/... ./cowfs/... ./lifecycle/... ./sandbox/... ./cmd/... ./criu-lite/...
GOFILES = $(shell find . -name '*.go' -not -path './.git/*' -not -path './_build/*' -not -path './bin/*')

export CGO_ENABLED := 1
# urfave_cli_no_docs drops the CLI library's man-page generator (blackfriday): 0.6 ms off every
# start of the runtime's processes (the CLI, init, the supervisor), which is most of a container start.
BUILD_TAGS := urfave_cli_no_docs,landlocktsync
# landlocktsync: go-landlock's syscall package without its all-threads fallback, which links
# libcap's psx (a pthread_create wrapper in cgo builds); the runtime confines one locked thread
# and execs, so it never needs it. Every go command of the Makefile builds the same way.
export GOFLAGS := -tags=landlocktsync

.PHONY: all build install deps host-prep test unit integration vet lint demo bench clean

all: build

## build: bin/sandlock-runtime (cgo: libseccomp)
build:
	$(GO) build -trimpath -tags $(BUILD_TAGS) -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/sandlock-runtime

## install: the binary in $(PREFIX)/bin (/usr/local/bin, where the docs expect it) and the
## shipped profiles in /etc/sandlock/profiles; DESTDIR stages it elsewhere. Builds only when
## $(BIN) is missing, so `make build && sudo make install` does not build as root.
PREFIX ?= /usr/local
install:
	@test -x $(BIN) || $(MAKE) --no-print-directory build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sandlock-runtime
	install -d -m 0755 $(DESTDIR)/etc/sandlock/profiles
	install -m 0644 profiles/*.toml $(DESTDIR)/etc/sandlock/profiles/

## deps: the Debian packages the build, tests and demo need (only the missing ones), Go modules,
## the pinned staticcheck and crictl (built once, cached): the only steps that use the network
deps:
	hack/install-deps.sh
	$(GO) mod download
	$(GO) mod download -modfile=$(TOOLS_MOD)
	hack/cri-crictl.sh >/dev/null

## host-prep: move cgroup2-owned controllers to v1 on hybrid hosts (crun needs it); idempotent
host-prep:
	hack/host-prep.sh

## test: everything CI checks; the integration tests run even when a unit test fails.
## SANDLOCK_REQUIRE=all: a missing tool (gcc, static libc, containerd, podman, crictl, ...) fails
## the tests that need it instead of skipping them, so CI cannot stay green on skips.
test: export SANDLOCK_REQUIRE := all
test: deps build lint
	@rc=0; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory integration || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the go test summaries above)"; fi; \
	exit $$rc

vet:
	$(GO) vet ./...

unit:
	$(GO) test -timeout 10m $(UNIT_PKGS)

## integration: root-only tests that drive the built binary (and ctr/podman when installed)
integration: build host-prep
	SANDLOCK_CRI=1 SANDLOCK_RUNTIME=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 20m ./integration/...

## lint: gofmt, go vet, staticcheck (pinned), and `go mod tidy` must leave go.mod/go.sum as they are
lint:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	@$(GO) mod tidy -diff || { echo "lint: go mod tidy would change go.mod/go.sum (diff above)"; exit 1; }
	@cd hack/tools && $(GO) mod tidy -diff || { echo "lint: go mod tidy would change hack/tools/go.mod (diff above)"; exit 1; }

demo: deps build
	hack/demo.sh

bench: build
	@if [ -x hack/bench.sh ]; then hack/bench.sh; else echo "hack/bench.sh not present yet: no benchmark to run"; fi

clean:
	rm -rf bin _build
	$(GO) clean -testcache

# Feature targets (bench, conformance, clients, ...) live beside the scripts they run.
-include hack/*.mk
