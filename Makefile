# The two commands of the README, and the steps they are made of.
#
#   make run    install what is missing, build, compile Llama-2-7B, print its IR
#   make test   install what is missing, build, run every test through ctest

BUILD      ?= build
BUILD_TYPE ?= Release
MODEL      ?= llama2-7b
JOBS       ?= $(shell nproc)

# Debian 12 packages the build and the tests need.
PACKAGES := cmake ninja-build ccache clang python3 \
            libmlir-19-dev mlir-19-tools llvm-19-dev llvm-19-tools \
            libsentencepiece-dev sentencepiece \
            libflatbuffers-dev flatbuffers-compiler \
            libgtest-dev libgmock-dev graphviz
# The reference the training tests compare gradients against; its
# recommendations (a GUI toolkit among them) are not needed.
LEAN_PACKAGES := python3-torch

# clang builds LLVM-heavy code faster than g++ on these 2-core machines.
CXX_FLAGS := $(if $(shell command -v clang++),-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)

.PHONY: run test deps configure build clean

run: build
	$(BUILD)/bin/llamac --model $(MODEL) --emit=mlir

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

# Installs only the packages that are missing, so it is quick when none are.
deps:
	@missing=""; lean=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	for p in $(LEAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || lean="$$lean $$p"; \
	done; \
	if [ -n "$$missing$$lean" ]; then \
	  echo "installing:$$missing$$lean"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && \
	  if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; fi && \
	  if [ -n "$$lean" ]; then DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$lean; fi; \
	fi

$(BUILD)/build.ninja: | deps
	cmake -G Ninja -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CXX_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD)

clean:
	rm -rf $(BUILD)
