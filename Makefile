# keyrelay. `make test` is the README's test command and what .ci/run calls.
GO      ?= go
BIN     := bin
# Nested modules with test-only heavyweights (kept out of the product's go.mod).
NESTED  := $(wildcard browsertest/go.mod interop/go.mod)
FUZZTIME ?= 10s
# Pinned: `go run` fetches exactly this version through the module proxy,
# and nothing of it enters go.mod.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The workflow's checker, pinned likewise: .github/workflows/ci.yml cannot
# run here, so it is kept correct by review and by this.
ACTIONLINT ?= github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

.PHONY: build test test-unix test-windows test-nested lint cross demo bench fuzz clean dist

# CGO_ENABLED=0: nothing here needs cgo, and a statically linked relay
# starts about 3 ms sooner (no dynamic loader or libc start-up; see
# BENCHMARKS.md). -buildvcs=auto: `relay version` names the commit even
# where GOFLAGS turns VCS stamping off.
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN)/ ./backend ./relay

# Runs every test in three lanes side by side, each one's output printed
# whole when it ends: test-unix (the root module), test-windows (under
# Wine) and test-nested (browsertest/, interop/: real Chromium, third-party
# authorization servers). Most of their time is waiting on processes, so
# they overlap well on two cores.
test:
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-unix test-windows test-nested

# The nested modules, one after the other.
test-nested:
	@for m in $(dir $(NESTED)); do \
		echo "== $$m"; \
		(cd $$m && ../scripts/with-secret-service.sh $(GO) test -race -count=1 -timeout 10m ./...) || exit 1; \
	done

# Every test of the root module with the race detector, inside a private
# D-Bus session with a real, throwaway gnome-keyring
# (scripts/with-secret-service.sh); the Windows lane's apart.
test-unix:
	./scripts/with-secret-service.sh $(GO) test -race -count=1 -timeout 10m -skip '^TestWindowsLane' ./...

# The Windows lane (internal/winelane): the Windows build's tests, and
# relay.exe login, serve and logout, under Wine in a private prefix. It
# needs wine64 and gcc-mingw-w64-x86-64-win32; without them it skips, and
# fails under CI=true.
test-windows:
	$(GO) test -count=1 -timeout 10m -v -run '^TestWindowsLane' ./internal/winelane

# gofmt, vet (also of the windows and darwin builds' tests, which cross does
# not compile), staticcheck, actionlint, go mod verify, on the product and
# the nested modules.
lint: cross
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@for m in $(dir $(NESTED)); do echo "== vet + staticcheck $$m"; (cd $$m && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...) || exit 1; done
	$(GO) run $(ACTIONLINT) .github/workflows/ci.yml
	$(GO) mod verify
	@echo "== dependencies (for review)"; $(GO) list -m all

cross:
	@for os in linux darwin windows; do for arch in amd64 arm64; do \
		echo "== CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build ./..."; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./... || exit 1; \
	done; done

demo:
	./scripts/demo.sh

# Measures cold start, per-call overhead, memory, JWT cost, throughput, the
# vault and refresh under contention, against mcp-remote when node and npm
# are present, and writes BENCHMARKS.md (bench/; about 8 minutes). It
# reports and never fails on speed.
#
# BASELINE=<git rev> also builds the relay of that revision (in a temporary
# git worktree, into $(BIN)/baseline) and measures it in the same run,
# interleaved with the current one, in the cold start and per-call parts:
# rows "relay (baseline)" and the ratios current / baseline. BENCHOUT is
# the report to write; BENCHFLAGS are more flags of bin/bench, e.g.
#   make bench BASELINE=HEAD~1 BENCHOUT=/tmp/bench.md BENCHFLAGS='-only cold,calls -no-mcp-remote'
BASELINE ?=
BENCHOUT ?= BENCHMARKS.md
BENCHFLAGS ?=
bench:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./backend ./relay ./internal/fakebrowser/cmd/fakebrowser ./bench
ifneq ($(BASELINE),)
	@set -e; rev=$$(git rev-parse --verify --quiet '$(BASELINE)^{commit}') || { echo "BASELINE=$(BASELINE): not a commit"; exit 1; }; \
	tmp=$$(mktemp -d); trap 'git worktree remove --force "$$tmp/src" 2>/dev/null || true; rm -rf "$$tmp"' EXIT; \
	echo "== relay of $(BASELINE) ($$rev) into $(BIN)/baseline/relay"; \
	git worktree add --quiet --detach "$$tmp/src" "$$rev"; \
	mkdir -p "$(abspath $(BIN))/baseline"; \
	(cd "$$tmp/src" && CGO_ENABLED=0 $(GO) build -o "$(abspath $(BIN))/baseline/relay" ./relay)
	./scripts/with-secret-service.sh $(BIN)/bench -go $(GO) -bins $(BIN) -out $(BENCHOUT) \
		-baseline $(BIN)/baseline -baseline-label "$$(git rev-parse --short '$(BASELINE)^{commit}')" $(BENCHFLAGS)
else
	./scripts/with-secret-service.sh $(BIN)/bench -go $(GO) -bins $(BIN) -out $(BENCHOUT) $(BENCHFLAGS)
endif

clean:
	rm -rf $(BIN)

# Runs every fuzz target for FUZZTIME each (default 10s; e.g. make fuzz
# FUZZTIME=2m, or a count such as 50000x, which CI uses: see .ci/run).
# Targets are found by name, without compiling.
fuzz:
	@for f in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go' | grep -v -e '^browsertest/' -e '^interop/')); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== ./$$(dirname $$f) $$t"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f) || exit 1; \
		done; \
	done

# Release files into dist/: relay and backend for linux, darwin, windows ×
# amd64, arm64 (CGO_ENABLED=0, -trimpath, -buildvcs=false, no build ID),
# deterministic archives, a CycloneDX SBOM per binary and SHA256SUMS
# (internal/dist; RELEASING.md). VERSION is the tag at HEAD (git describe:
# v0.3.0 on the tag, v0.3.0-2-gabc1234 after it, -dirty with changes), and
# every archive entry has the commit's time: the same commit gives the same
# bytes in any checkout.
VERSION ?= $(shell git describe --tags --always --dirty --match 'v*')
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct)
dist:
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./internal/dist -version '$(VERSION)' -out dist
