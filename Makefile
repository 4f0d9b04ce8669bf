# AutoPhon: the entry points. `make run` starts the whole pipeline on this machine;
# `make test` installs what it needs and runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs the runtime only; the test tools come with `make test`.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=
APT_PACKAGES := ffmpeg sox espeak-ng sphinxbase-utils sphinxtrain pocketsphinx
# Festival with English diphone and HTS voices, and Italian, Finnish and Czech diphone voices:
# more synthetic speech with exact times for the accuracy tests and benchmarks
# (bench/festival.py).
FESTIVAL_PACKAGES := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
  festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-czech-dita festvox-czech-ph
FESTIVAL_VOICES := $(addprefix /usr/share/festival/voices/,english/kal_diphone english/ked_diphone \
  us/cmu_us_slt_arctic_hts italian/lp_diphone italian/pc_diphone finnish/suo_fi_lj_diphone \
  finnish/hy_fi_mv_diphone czech/czech_dita czech/czech_ph)

.PHONY: help install install-runtime system-deps browser-deps speech-deps mbrola-voices run test test-pg lint format typecheck bench soak images chart e2e clean

help:
	@echo "make run    - start AutoPhon locally (SQLite, ./.autophon, built-in engine) and print the URL"
	@echo "make test   - install everything needed and run the test suite"
	@echo "make lint   - ruff; make typecheck - mypy; make bench - benchmarks; make soak - long fault runs"
	@echo "make mbrola-voices - espeak-ng's MBROLA voices (Debian contrib/non-free) for more make bench conditions"
	@echo "make images - build the container images; make e2e - end-to-end tests (kind, else the KUBECONFIG cluster)"

# Debian packages the pipeline runs (ffmpeg/ffprobe for conversion, sox for tests,
# espeak-ng for pronunciations of out-of-dictionary words; its library, libespeak-ng1, also
# makes the synthetic speech with exact times of the accuracy tests and benchmarks,
# bench/speech.py; sphinx_fe, SphinxTrain's bw and mllr_solve and pocketsphinx_mdef_convert
# for the built-in engine's speaker adaptation, engines/adaptation.py); installed only when
# missing.
system-deps:
	@missing=""; \
	for tool in ffmpeg ffprobe sox espeak-ng sphinx_fe pocketsphinx_mdef_convert; do command -v $$tool >/dev/null || missing=1; done; \
	[ -x /usr/lib/sphinxtrain/bw ] || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $(APT_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

# Debian's Chromium for the browser tests (cli/tests/test_browser.py), only when missing and
# only where apt can install it; without it those tests skip, saying why.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null ) \
	    || echo "chromium could not be installed: the browser tests will be skipped"; \
	fi

# Festival for the accuracy tests, only when missing and only where apt can install it;
# without it those tests skip, saying why.
speech-deps:
	@if ! command -v festival >/dev/null || ! ls -d $(FESTIVAL_VOICES) >/dev/null 2>&1; then \
	  echo "Installing Festival and its voices for the accuracy tests: $(FESTIVAL_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(FESTIVAL_PACKAGES) >/dev/null ) \
	    || echo "Festival could not be installed: its accuracy tests will be skipped"; \
	fi

# espeak-ng's MBROLA voices for `make bench` (bench/speech.py), on request only: they are in
# Debian's contrib and non-free sections (MBROLA's voices may not be used commercially), which
# this reads for this one install from a source list of its own, leaving the system's as they are.
MBROLA_PACKAGES := mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-sw1 mbrola-sw2 \
	mbrola-de6 mbrola-nl2 mbrola-fr1 mbrola-pt1 mbrola-pl1
mbrola-voices:
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  APT=$$(mktemp -d); chmod 755 $$APT; mkdir -p $$APT/lists/partial; \
	  . /etc/os-release; \
	  echo "deb http://deb.debian.org/debian $$VERSION_CODENAME main contrib non-free" > $$APT/sources.list; \
	  OPTIONS="-o Dir::Etc::sourcelist=$$APT/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$$APT/lists"; \
	  $$SUDO apt-get $$OPTIONS update -qq \
	    && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get $$OPTIONS install -y -qq --no-install-recommends $(MBROLA_PACKAGES) >/dev/null \
	    && echo "Installed $(MBROLA_PACKAGES)"; \
	  STATUS=$$?; $$SUDO rm -rf $$APT; exit $$STATUS

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $(TEST_STAMP)

install-runtime: system-deps $(RUNTIME_STAMP)

install: install-runtime browser-deps speech-deps $(TEST_STAMP)

run: install-runtime
	$(BIN)/autophon local

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

# Only the tests that need PostgreSQL.
test-pg: install
	$(BIN)/pytest -m postgres $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy core/src services/upload/src services/align/src cli/src

bench: install
	$(BIN)/python -m bench

soak: install
	AUTOPHON_SOAK=1 $(BIN)/pytest -m reliability $(PYTEST_ARGS)

images:
	docker/build.sh

chart: install
	$(BIN)/pytest charts/autophon/tests -q

# kind where Docker works, else the cluster KUBECONFIG points at (tests/e2e/run-cluster.sh).
e2e: install
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && command -v kind >/dev/null 2>&1; then \
	  tests/e2e/run-kind.sh; \
	else \
	  tests/e2e/run-cluster.sh; \
	fi

clean:
	rm -rf $(VENV) .autophon .pytest_cache .ruff_cache .mypy_cache
