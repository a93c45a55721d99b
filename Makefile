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

test: test-deps build
	@mkdir -p $(REPORTS)
	KMSHARNESS_HSMNODE=$(BIN)/hsmnode scripts/in-clean-tmp.sh $(GINKGO) -r -p --randomize-all --race --keep-going \
		--timeout=30m --junit-report=junit.xml --output-dir=$(REPORTS); \
	status=$$?; $(GO) run ./internal/cmd/junitsummary $(REPORTS)/junit.xml; exit $$status

# The hsmnode image for the container backend, built offline from this
# machine's packages (no registry needed); the Dockerfile builds the same
# image where base images can be pulled.
image: deps
	scripts/build-image.sh $(IMAGE)

# Every built-in chaos scenario, each run for CHAOS_DURATION against a
# harness of its own (about 3 minutes in all); the report of a run that
# fails stays in reports/chaos/NAME.
CHAOS_DURATION ?= 10s
chaos: deps build
	@mkdir -p $(REPORTS)/chaos; status=0; \
	for s in $$($(BIN)/kmsharness chaos list --names); do \
		KMSHARNESS_HSMNODE=$(BIN)/hsmnode $(BIN)/kmsharness chaos run $$s --duration $(CHAOS_DURATION) \
			--report $(REPORTS)/chaos/$$s || status=1; \
	done; exit $$status

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Fuzz targets as package:target; each runs for FUZZTIME on its own (go test
# fuzzes one target at a time). Crashers land in the package's
# testdata/fuzz, where they stay as permanent seeds once fixed.
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
