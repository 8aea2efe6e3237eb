# seqkit: `make run` trains the LTSF recipe on ETTh1, `make test` runs the tests.
# Each target sets up its own virtualenv (.venv) from pyproject.toml first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The data root: ../shared/data when it is there, unless SEQKIT_DATA is already set.
SHARED_DATA := $(abspath ../shared/data)
export SEQKIT_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)

.PHONY: run test lint bench bench-speed bench-asr bench-digits bench-lm bench-reliability bench-kws clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed  ## train and test SegRNN on ETTh1 with the paper's settings
	$(BIN)/seqkit run recipes/ltsf $(ARGS)

test: $(VENV)/.installed  ## the test suite, with the doctests of the library
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check seqkit recipes tests benchmarks

bench: $(VENV)/.installed  ## the full LTSF benchmark (hours on 2 cores)
	$(BIN)/python benchmarks/ltsf.py $(ARGS)

bench-speed: $(VENV)/.installed  ## LTSF speed and memory only (minutes)
	$(BIN)/python benchmarks/ltsf.py --speed-only

clean:
	rm -rf $(VENV) runs
	rm -rf $(PEERS_VENV)

bench-asr: $(VENV)/.installed  ## the AN4 speech recognition benchmark (about an hour on 2 cores)
	$(BIN)/python benchmarks/asr.py $(ARGS)

bench-digits: $(VENV)/.installed  ## the spoken-digit (FSDD) benchmark (four to six hours on 2 cores)
	$(BIN)/python benchmarks/digits.py $(ARGS)

bench-lm: $(VENV)/.installed  ## the LM benchmark (about 15 minutes on 2 cores)
	$(BIN)/python benchmarks/lm.py $(ARGS)

bench-reliability: $(VENV)/.installed  ## kill -9 and resume the LTSF and LM recipes, compare (about 15 minutes)
	$(BIN)/python benchmarks/reliability.py $(ARGS)

bench-kws: $(VENV)/.installed  ## the spoken-digit classifier: FSDD split and leave-one-speaker-out (about 30 minutes)
	$(BIN)/python benchmarks/kws.py $(ARGS)

# SegRNN against neuralforecast's PatchTST, iTransformer and LSTM, in a virtualenv of its own (.venv-peers):
# seqkit first, then the requirements, which pin the project's torch so that neuralforecast cannot replace it.
PEERS_VENV := .venv-peers
.PHONY: bench-peers

$(PEERS_VENV)/.installed: pyproject.toml benchmarks/peers-requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -e .
	$(PEERS_VENV)/bin/python -m pip install --quiet -r benchmarks/peers-requirements.txt
	$(PEERS_VENV)/bin/python -c "import torch; v = torch.__version__.split('+')[0]; assert v == '2.11.0', v"
	touch $@

bench-peers: $(PEERS_VENV)/.installed  ## SegRNN against PatchTST, iTransformer and LSTM, 15 minutes each (about 70 minutes)
	$(PEERS_VENV)/bin/python benchmarks/peers.py $(ARGS)
