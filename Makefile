# polyetl: a reference ETL monorepo — Airflow orchestrates, Kubernetes runs, each step is a
# container in the language that suits it (Python, Rust, Elixir).
#
# Common uses:
#   make setup      install what is missing (Debian packages, Python envs), start Docker
#   make demo       the main job: both pipelines on a local kind cluster, then a summary
#   make images     build the images (tag: git sha, never latest)
#   make test       everything that runs here: lint, unit tests, images, contract, integration,
#                   e2e (on a fresh machine: make setup test, which is what CI runs)
#
# Real work lives in hack/; each target is one line calling a script.

SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# Knobs: `make images TAG=v1.2.0`, or from the environment.
TAG ?=# the images' tag; empty: the git sha ("-dirty" when uncommitted), never "latest"
POLYETL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/polyetl# slow artifacts (debs, cargo, Go, PLT, node image)
POLYETL_SERVICES ?= auto# service images: official when pullable, else local (auto|upstream|local)
export TAG POLYETL_CACHE POLYETL_SERVICES

##@ Getting started

help: ## Show this table of contents
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*##/ {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)}' $(MAKEFILE_LIST)

setup: ## Install what is missing and start the Docker engine
	hack/setup.sh

demo: ## The main job: both pipelines on the kind cluster, run by Airflow, then a summary
	hack/demo.sh

##@ Build

images: ## Build the task images (base images built locally when none can be pulled)
	hack/images.sh build

base-images: ## Only make sure the base images exist (pull, or build from Debian packages)
	hack/machine/base-images.sh

##@ Test

test: export POLYETL_TEMPLATE_BACKGROUND = 1
test: lint test-python test-rust test-elixir images e2e-cluster template-start test-contract test-dags test-integration test-e2e test-template ## Lint + every test level that runs here

test-python: ## Python task tests (tasks/python): CLI, and each command against the S3 server and chDB
	hack/test.sh python

test-rust: ## Rust task tests (tasks/rust), incl. tests running the real binary
	hack/test.sh rust

test-elixir: ## Elixir task tests (tasks/elixir), incl. tests running the real release
	hack/test.sh elixir

test-contract: ## Every task image honours docs/task-contract.md (after `make images`)
	hack/test.sh contract

test-dags: ## DAGs load; every task renders the expected pod; exit codes map (after `make images`)
	hack/test.sh dags

test-template: ## The generators: provider, commands, pipeline made in a copy of the repo, which runs its gates
	hack/test.sh template

test-integration: ## Tests against real services (ClickHouse and the S3 server as containers)
	hack/test.sh integration

e2e-cluster: ## Start making the e2e cluster in the background (test-e2e waits for it; optional)
	hack/test.sh e2e-cluster

template-start: ## Start the template test in the background, niced (test-template waits for it)
	hack/test.sh template-start

test-e2e: ## On a real kind cluster (made and deleted by the tests; node image cached)
	hack/test.sh e2e

lint: ## Format + lint gates of every language, warnings as errors
	hack/lint.sh all

lint-python: ## ruff + mypy
	hack/lint.sh python

lint-rust: ## cargo fmt --check + clippy -D warnings
	hack/lint.sh rust

lint-elixir: ## mix format --check-formatted + compile --warnings-as-errors + dialyzer
	hack/lint.sh elixir

##@ Extend (generators: docs/extending.md; python -m scaffold --help for every option)

new-command: ## A task command + its tests: LANGUAGE=python|rust|elixir NAME=tally FLAGS='limit:int mode:choice(a|b)=a' [SUMMARY='…']
	uv run --frozen python -m scaffold command '$(LANGUAGE)' '$(NAME)' $(foreach f,$(FLAGS),--flag '$(f)') $(if $(SUMMARY),--summary '$(SUMMARY)')

new-pipeline: ## A DAG chaining commands, one mapped: NAME=flow STEPS='python:selfcheck; rust:tally --window-size 5' [MAPPED=task_id]
	uv run --frozen python -m scaffold pipeline '$(NAME)' --steps '$(STEPS)' $(if $(MAPPED),--mapped '$(MAPPED)') $(if $(SUMMARY),--summary '$(SUMMARY)')

new-provider: ## A provider feed's mapping for s3_ingest: NAME=zeta ARGS='--format csv --delimiter "|" …'
	uv run --frozen python -m scaffold provider '$(NAME)' $(ARGS)

##@ Benchmarks

bench: ## Benchmarks with ratios against references measured in the same run
	uv run --frozen python -m bench.clickhouse_copy
	uv run --frozen python -m bench.staged_format
	uv run --frozen python -m bench.clickhouse_load
	uv run --frozen python -m bench.rust_transform
	uv run --frozen python -m bench.discover_ledger

bench-pods: ## Per-task cost through the deployed Airflow vs `kubectl run`; pods' memory (after `make demo`)
	uv run --frozen python -m bench.pod_overhead
	uv run --frozen python -m bench.platform_memory

##@ Cluster

kind-up: ## Create (or reuse) the kind cluster; builds the node image when none can be pulled
	hack/kind.sh up

deploy: ## Deploy the platform (namespace, RBAC, ClickHouse x2, S3, Airflow, Secrets) to the cluster
	hack/deploy.sh apply

airflow-dags: ## Try changed dags/ on the running cluster (rebuilds one image layer, ~1 min)
	hack/deploy.sh dags

airflow-ui: ## Airflow's UI + REST API on http://localhost:8080 (port-forward; user admin)
	hack/deploy.sh ui

kind-down: ## Delete the kind cluster and everything it left behind
	hack/kind.sh down

kind-load: ## Load every image `make images` builds into the cluster
	hack/kind.sh load

kind-node-image: ## Only build (or find) the kind node image (pulled where a registry is reachable)
	hack/kind.sh node-image

##@ Services

s3-start: ## Start the local S3 server (prints where its env file is)
	hack/s3-server.sh start

s3-stop: ## Stop the local S3 server
	hack/s3-server.sh stop

.PHONY: help setup images base-images test test-python test-rust test-elixir test-contract e2e-cluster template-start \
	test-dags test-template test-integration test-e2e lint lint-python lint-rust lint-elixir kind-up kind-down kind-load \
	kind-node-image s3-start s3-stop bench bench-pods demo deploy airflow-ui airflow-dags new-command \
	new-pipeline new-provider
