# Two commands on a fresh machine: `make run` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ADDRESS ?= localhost
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup run test test-tf test-jax pretrained clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# Ctrl-C stops the server and the training workers it started (a job they were training resumes next time).
run: setup
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT) --server.address $(ADDRESS)

# Style (ruff), then two passes at once: every test under TensorFlow, and the backend-sensitive core tests again
# under JAX. Side by side they fill the CPU time each leaves idle (process starts, waits, its last test); each
# pass's output is printed whole when it ends.
test: setup
	$(PY) -m ruff check .
	$(MAKE) --no-print-directory -j2 --output-sync=target test-tf test-jax

test-tf: setup
	$(PY) -m pytest -q -n 2 tests

test-jax: setup
	KERAS_BACKEND=jax $(PY) -m pytest -q -n 2 -m backend tests

pretrained: setup
	$(PY) -m core pretrain --out pretrained $(if $(DATA_DIR),--data-dir $(DATA_DIR))

clean:
	rm -rf $(VENV) .pytest_cache
