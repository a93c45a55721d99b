# kmsharness — build, run and test.
#   make run    start the harness (process backend) and print its environment
#   make test   run every suite, in parallel and randomized, with a JUnit report
#   make fuzz   run every fuzz target for FUZZTIME each (10s by default)
#   make chaos  run every built-in chaos scenario with short durations
GO      ?= go
BIN     := $(CURDIR)/bin
REPORTS := $(CURDIR)/reports
GINKGO  := $(GO) tool ginkgo
IMAGE   ?= kmsharness/hsmnode:dev

.PHONY: all build run test lint bench fuzz deps test-deps image clean chaos

all: build

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: deps build
	$(BIN)/kmsharness up --print-env

# The race detector makes a test binary several times slower and needs
# every dependency built a second time, so it runs where concurrency lives
# in the test process: the KMS front end, the control plane, the harness and
# its process backend, the HSM node, its session pool and wire writer, the
# fault-control protocol, the scenario runner, the load generator — every
# package with tests except PLAIN_SUITES and CONTAINER_SUITES (a new one is
# raced until listed there). PLAIN_SUITES test code that runs in child
# processes (the CLI, hsmnode), pure code (user records, atomic writes, the
# AWS JSON decoder), or thin layers over raced code (kmsharnesstest,
# faults, suites, the test helpers); they share the build cache with make
# build.
PLAIN_SUITES := ./cmd/hsmnode ./cmd/kmsharness ./faults ./internal/atomicfile ./internal/awsjson \
	./internal/testenv ./kmsharnesstest ./softhsm/users ./suites
# The container backend's suite runs the conformance and fault suites (the
# front end raced in ./kms) with every HSM a container: it mostly waits for
# the Docker engine, so it runs without -race, beside the others rather
# than after them; its output follows theirs.
CONTAINER_SUITES := ./harness/containerbackend
ALL_SUITES = $(shell $(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed 's|^$(CURDIR)|.|')
RACE_SUITES = $(filter-out $(PLAIN_SUITES) $(CONTAINER_SUITES),$(ALL_SUITES))
# No colour codes in logs: Ginkgo colours only when the run's stderr is a
# terminal (a command substitution's own stdout never is).
GINKGO_RUN := $(GINKGO) $$([ -t 2 ] || echo --no-color) -p --randomize-all --keep-going --timeout=30m --output-dir=$(REPORTS)

# The suites use the hsmnode and kmsharness just built (KMSHARNESS_TEST_BIN)
# instead of linking their own. The built-in chaos scenarios (label
# chaos:builtin) are make chaos's, not make test's.
test: test-deps build
	@mkdir -p $(REPORTS)
	@rm -f $(REPORTS)/junit-*.xml $(REPORTS)/containers.log
	KMSHARNESS_HSMNODE=$(BIN)/hsmnode KMSHARNESS_TEST_BIN=$(BIN) scripts/in-clean-tmp.sh sh -c '\
		$(GINKGO_RUN) --junit-report=junit-containers.xml $(CONTAINER_SUITES) >$(REPORTS)/containers.log 2>&1 & containers=$$!; \
		$(GINKGO_RUN) --race --label-filter=!chaos:builtin --junit-report=junit-race.xml $(RACE_SUITES); race=$$?; \
		$(GINKGO_RUN) --junit-report=junit-plain.xml $(PLAIN_SUITES); plain=$$?; \
		wait $$containers; cont=$$?; cat $(REPORTS)/containers.log; \
		[ $$race -eq 0 ] && [ $$plain -eq 0 ] && [ $$cont -eq 0 ]'; \
	status=$$?; $(GO) run ./internal/cmd/junitsummary $(REPORTS)/junit-*.xml; exit $$status

# The hsmnode image for the container backend, built offline from this
# machine's packages (no registry needed); the Dockerfile builds the same
# image where base images can be pulled.
image: deps
	scripts/build-image.sh $(IMAGE)

# Every built-in chaos scenario (the scenarios suite's specs labelled
# chaos:builtin), each run for CHAOS_DURATION with the race detector on the
# front end, two at a time, on the process backend and, where a Docker
# engine answers, two on the container backend; the report of a run that
# fails stays in reports/chaos/NAME (container-NAME on the container backend).
CHAOS_DURATION ?= 10s
chaos: deps build
	@mkdir -p $(REPORTS)/chaos
	KMSHARNESS_HSMNODE=$(BIN)/hsmnode KMSHARNESS_CHAOS_DURATION=$(CHAOS_DURATION) KMSHARNESS_CHAOS_REPORTS=$(REPORTS)/chaos \
		scripts/in-clean-tmp.sh $(GINKGO_RUN) --race --label-filter=chaos:builtin --junit-report=junit-chaos.xml ./scenarios

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Fuzz targets as package:target; each runs for FUZZTIME on its own (go test
# fuzzes one target at a time). Crashers land in the package's
# testdata/fuzz, where they stay as permanent seeds once fixed.
# FUZZTIME is a duration (10s) or a count of executions (10000x); a count
# cannot hit Go 1.26's spurious "context deadline exceeded" at a duration's
# end (go.dev/issue/75804), so CI uses one.
FUZZTIME    ?= 10s
FUZZ_TARGETS := ./internal/awsjson:FuzzDecode ./internal/awsjson:FuzzEncode ./softhsm/hsmwire:FuzzDecodeRequest \
	./softhsm/hsmwire:FuzzDecodeResponse ./softhsm/hsmwire:FuzzReadFrame ./kms:FuzzMarker ./kms:FuzzCiphertext \
	./control:FuzzDecodeRequest ./scenarios:FuzzParse

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $$t"; \
		$(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) -parallel 1; \
	done

bench: deps
	$(GO) test ./softhsm/node -run '^$$' -bench . -benchtime 3s -count 3

clean:
	rm -rf $(BIN) $(REPORTS)
