# Two commands matter: `make run` (the whole pipeline offline) and `make test`.
# Every target installs what it needs into .venv inside the repository.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
ARGS ?=
PORT ?= 8080

STAGE ?=
STACK ?=

export SAGEMAKER_SUPPRESS_V2_WARNING := 1
export PYTHONDONTWRITEBYTECODE := 1
# Chalice and the AWS CLI read only AWS_DEFAULT_REGION: take it from AWS_REGION when only that is set.
ifdef AWS_REGION
AWS_DEFAULT_REGION ?= $(AWS_REGION)
export AWS_DEFAULT_REGION
endif

.PHONY: help venv test lint typecheck unit run api model-server bench report audit train evaluate probe package deploy clean

help:
	@echo "make run       the whole pipeline offline (moto + local model + Reddit replay); ARGS='--once --replay DIR'"
	@echo "make test      ruff, mypy and pytest (offline)"
	@echo "make bench     benchmarks -> bench/results.json"
	@echo "make report    charts and report.html from stored predictions (ARGS='--out DIR --since EPOCH')"
	@echo "make audit     dependency vulnerability scan + static security scan"
	@echo "make api PORT=n  chalice local (default port 8001) against the offline stack of a running 'make run' [STACK=.local/runs/N/stack.json]"
	@echo "make model-server PORT=n   the local SageMaker-compatible model server alone"
	@echo "make package [STAGE=dev]   the Lambda zip + Terraform (build/package); needs 'python deploy_model.py --stage STAGE' first (local: committed)"
	@echo "make deploy STAGE=dev      chalice deploy after the same checks (region from AWS_REGION, the stage's policy files)"
	@echo "make train / make evaluate  retrain / evaluate the embedded offline model (needs ../shared/data)"
	@echo "make probe     fine-tune a contextual encoder on the same data, to measure the data's ceiling (~25 min)"

$(STAMP): requirements.txt requirements-dev.txt requirements-deploy.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy app.py chalicelib deploy_model.py provisioning devtools bench tests

unit: $(STAMP)
	$(PY) -m pytest

test: lint typecheck unit

run: $(STAMP)
	$(PY) -m devtools.runner $(ARGS)

api: $(STAMP)
	$(PY) -m devtools.chalice_run api --port $(if $(filter command line,$(origin PORT)),$(PORT),8001) $(if $(STACK),--stack $(STACK))

model-server: $(STAMP)
	$(PY) -m devtools.model_server --port $(PORT) $(ARGS)

bench: $(STAMP)
	$(PY) -m bench.run $(ARGS)

# Extra tools per target, each from its own requirements-<name>.txt, installed once.
$(VENV)/.installed-%: requirements-%.txt $(STAMP)
	$(PY) -m pip install --quiet -r $<
	touch $@

report: $(VENV)/.installed-report
	$(PY) -m devtools.report $(ARGS)

audit: $(VENV)/.installed-audit
	$(PY) -m pip_audit --requirement requirements.txt --progress-spinner off
	$(PY) -m bandit -q -c pyproject.toml -r app.py chalicelib deploy_model.py provisioning

$(VENV)/.installed-train: requirements-eval.txt

train: $(VENV)/.installed-train
	$(PY) -m devtools.train_model $(ARGS)

evaluate: $(VENV)/.installed-eval
	$(PY) -m devtools.evaluate_model $(ARGS)

probe: $(VENV)/.installed-train
	$(PY) -m devtools.ceiling_probe $(ARGS)

# `chalice package` alone fails twice: CloudFormation refuses on_s3_event apps, and a stage
# needs its policy files (deploy_model.py writes them). These targets check and say what to run.
package: $(STAMP)
	$(PY) -m devtools.chalice_run package --stage $(or $(STAGE),local) --out build/package

deploy: $(STAMP)
	$(PY) -m devtools.chalice_run deploy --stage $(or $(STAGE),dev)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
