# The two commands a newcomer needs:
#   make run    serves ssehub on http://localhost:8080 (embedded default, no set-up)
#   make test   installs what tests need, then runs every test (vet, race, browser)

GO       ?= go
FUZZTIME ?= 5s

.PHONY: run test deps vet unit fuzz bench screenshot build

run:
	$(GO) run ./cmd/ssehub

build:
	$(GO) build -o bin/ssehub ./cmd/ssehub

test: deps vet unit fuzz

deps:
	./scripts/deps.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -race -count=1 -timeout 9m ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Re-takes the README's screenshot from the browser test.
screenshot: deps
	SSEHUB_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run Browser_Typewriter ./demo
