# keyrelay. `make test` is the README's test command and what .ci/run calls.
GO      ?= go
BIN     := bin
# Nested modules with test-only heavyweights (kept out of the product's go.mod).
NESTED  := $(wildcard browsertest/go.mod interop/go.mod)
FUZZTIME ?= 10s

.PHONY: build test lint cross demo bench fuzz clean

build:
	$(GO) build -o $(BIN)/ ./backend ./relay

# Runs every test with the race detector inside a private D-Bus session with
# a real, throwaway gnome-keyring (scripts/with-secret-service.sh).
test:
	./scripts/with-secret-service.sh $(GO) test -race -count=1 -timeout 10m ./...
	@for m in $(dir $(NESTED)); do \
		echo "== $$m"; \
		(cd $$m && ../scripts/with-secret-service.sh $(GO) test -race -count=1 -timeout 10m ./...) || exit 1; \
	done

lint: cross
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod verify
	@echo "== dependencies (for review)"; $(GO) list -m all

cross:
	@for os in linux darwin windows; do for arch in amd64 arm64; do \
		echo "== CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build ./..."; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./... || exit 1; \
	done; done

demo:
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)

# Runs every fuzz target for FUZZTIME each (default 10s; e.g. make fuzz FUZZTIME=2m).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done
