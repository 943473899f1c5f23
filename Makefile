# The two README commands:
#   make test   set up what is missing (idempotent), then ruff + pytest
#   make demo   set up, generate miniature data, train stage 1 + 2, test, print the table
# The environment lives in $(MMSEG_UEM_HOME) (default ~/.cache/mmseg-uem), outside the tree.
SHELL := /bin/bash
PYTEST_ARGS ?=

.PHONY: env test lint demo clean

env:
	@bash tools/setup_env.sh >/dev/null

# PYTHONPATH: this checkout's package wins over wherever the shared editable install points
# (several clones share one environment), in pytest and in the tools it launches.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

test:
	@PY="$$(bash tools/setup_env.sh)" && \
	"$$PY" -m ruff check . && \
	"$$PY" -m pytest $(PYTEST_ARGS)

lint:
	@PY="$$(bash tools/setup_env.sh)" && "$$PY" -m ruff check .

demo:
	@PY="$$(bash tools/setup_env.sh)" && "$$PY" tools/demo.py

clean:
	rm -rf work_dirs .pytest_cache .ruff_cache
