# The two README commands:
#   make test       set up what is missing (idempotent), then ruff + pytest (what CI runs)
#   make demo       set up, generate miniature data, train stage 1 + 2, test, print the table
# and, while working:
#   make test-fast  ruff + the tests not marked slow / multiprocess / resume (no Runner runs,
#                   no subprocess training, no torchrun, no killed runs)
# The environment lives in $(MMSEG_UEM_HOME) (default ~/.cache/mmseg-uem), outside the tree.
SHELL := /bin/bash
PYTEST_ARGS ?=

.PHONY: env test test-fast lint demo clean

#: the markers of pytest.ini that the fast tier leaves out
FAST_MARKERS := not slow and not multiprocess and not resume

env:
	@bash tools/setup_env.sh >/dev/null

# PYTHONPATH: this checkout's package wins over wherever the shared editable install points
# (several clones share one environment), in pytest and in the tools it launches.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

test:
	@PY="$$(bash tools/setup_env.sh)" && \
	"$$PY" -m ruff check . && \
	"$$PY" -m pytest $(PYTEST_ARGS)

test-fast:
	@PY="$$(bash tools/setup_env.sh)" && \
	"$$PY" -m ruff check . && \
	"$$PY" -m pytest -m "$(FAST_MARKERS)" $(PYTEST_ARGS)

lint:
	@PY="$$(bash tools/setup_env.sh)" && "$$PY" -m ruff check .

demo:
	@PY="$$(bash tools/setup_env.sh)" && "$$PY" tools/demo.py

clean:
	rm -rf work_dirs .pytest_cache .ruff_cache
