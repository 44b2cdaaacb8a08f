# The two commands a user needs: `make demo` (the main job) and `make test`.
# Both work on a fresh Debian 12 machine as root: they install what is missing first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEB_PACKAGES := buildah skopeo umoci docker-registry mmdebstrap busybox-static \
                apache2-utils openssl ca-certificates apt-cacher-ng docker.io
PYTEST_ARGS ?=

.PHONY: test lint demo deps emulation venv js bench clean format

test: deps emulation venv js
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: deps emulation venv
	$(BIN)/python -m examples.demo

bench: deps venv
	$(BIN)/python bench/resolve.py

# Debian packages the tests and the demo run for real. Installed only when missing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Other platforms run under qemu-user-static through binfmt_misc, which is not mounted at
# boot on every machine. Register the emulators when missing, and say so.
emulation:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	if ! dpkg-query -W -f='$${Status}' qemu-user-static 2>/dev/null | grep -q 'install ok installed' || \
	   ! dpkg-query -W -f='$${Status}' binfmt-support 2>/dev/null | grep -q 'install ok installed'; then \
	  echo "installing qemu-user-static and binfmt-support (emulated platforms)"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends qemu-user-static binfmt-support; \
	fi; \
	if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then \
	  echo "mounting binfmt_misc"; $$SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; \
	fi; \
	if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then \
	  echo "registering the qemu emulators with binfmt_misc"; $$SUDO update-binfmts --enable; \
	fi

# sigstore-js, the independent verifier the interop tests run, into a test-only folder
# (tests/js/node_modules) from the committed lock file. Node and npm from Debian if missing.
JS_DIR := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.installed

js: $(JS_STAMP)

$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  echo "installing nodejs and npm (the sigstore-js interop tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi
	cd $(JS_DIR) && npm ci --no-audit --no-fund --ignore-scripts
	touch $(JS_STAMP)

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,lint]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info $(JS_DIR)/node_modules
