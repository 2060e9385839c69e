# The two commands a newcomer needs:
#   make run    serves ssehub on http://localhost:8080 (embedded default, no set-up)
#   make test   installs what tests need, then runs every test (vet, race, browser)

GO       ?= go
FUZZTIME ?= 5s

.PHONY: run test deps vet unit fuzz bench bench-scenarios screenshot build

run:
	$(GO) run ./cmd/ssehub

build:
	$(GO) build -o bin/ssehub ./cmd/ssehub

test: deps vet fuzz unit

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	GOOS=windows $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

unit:
	./scripts/unit.sh

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Issue 7's scenarios S1–S5, the slow-consumer check and issue 12's Durable
# Streams scenarios D1–D3 with ssehub bench against "ssehub serve"
# (BENCH_REPS, BENCH_SCENARIOS, BENCH_DURABLE_STORE…: see the script).
# Results go to bench/results/.
bench-scenarios:
	./bench/scenarios.sh

# Re-takes the README's and the guides' screenshots from the browser tests.
screenshot: deps
	SSEHUB_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run Browser_Typewriter ./demo
	SSEHUB_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run Browser ./console
