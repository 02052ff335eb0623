# fleetmon — see README.md. Two entry points for a fresh Debian 12 machine:
#   make run    fleetd with its own PostgreSQL+PostGIS, plus simulated terminals
#   make test   every test (installs what it needs, starts a test database)

GO      ?= go
export PATH := /usr/local/go/bin:$(PATH)
BIN     := bin

.PHONY: all ui build run test test-go vet deps bench fuzz clean

all: build

# The web UI (api/ui): npm packages from the committed lockfile, built by Vite
# into api/ui/dist/app, which the api package embeds. Needs Node.js 18 or later
# and npm: Debian 12's own, which deps.sh installs when no node is on the PATH.
ui:
	scripts/deps.sh ui
	scripts/ui.sh

build: ui
	$(GO) build -o $(BIN)/ ./cmd/fleetd ./cmd/fleetsim

deps:
	scripts/deps.sh pg mqtt mail browser ui race ha backup

# make run needs no browser: only the database it manages itself.
run: build
	scripts/deps.sh pg
	scripts/run-demo.sh

test: deps ui
	scripts/test.sh

bench:
	scripts/bench.sh

# Each codec fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	for t in $$($(GO) test -list '^Fuzz' ./ingest/jt808 | grep ^Fuzz); do \
		$(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./ingest/jt808 || exit 1; \
	done

clean:
	rm -rf $(BIN) .testdb api/ui/dist/app api/ui/node_modules
