# fleetmon — see README.md. Two entry points for a fresh Debian 12 machine:
#   make run    fleetd with its own PostgreSQL+PostGIS, plus simulated terminals
#   make test   every test (installs what it needs, starts a test database)

GO      ?= go
export PATH := /usr/local/go/bin:$(PATH)
BIN     := bin

.PHONY: all build run test test-go vet deps bench fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/fleetd ./cmd/fleetsim

deps:
	scripts/deps.sh pg mqtt

run: deps build
	scripts/run-demo.sh

test: deps
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
	rm -rf $(BIN) .testdb
