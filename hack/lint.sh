#!/usr/bin/env bash
# Every language's format and lint gates, warnings as errors.
#
#   lint.sh python|rust|elixir|shell|all
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$POLYETL_CACHE/cargo-target}"

python_lint() {
  # Root (tests/, dags/, hack/) and tasks/python, each with its own locked tools. mypy's
  # caches live in the shared cache dir (tox.ini), so a fresh clone's mypy is incremental.
  (cd "$REPO_ROOT" && POLYETL_MYPY_CACHE="${POLYETL_MYPY_CACHE:-$POLYETL_CACHE/mypy}" \
    run uv run --frozen tox -e lint)
}

rust_lint() (
  cd "$REPO_ROOT/tasks/rust"
  run cargo fmt --check
  run cargo clippy --all-targets --locked -- -D warnings
)

elixir_lint() (
  cd "$REPO_ROOT/tasks/elixir"
  export MIX_ENV=test
  # Formats extask and its S3 client library (s3_client/: .formatter.exs subdirectories).
  run mix format --check-formatted
  run mix compile --warnings-as-errors --force
  (cd s3_client && run mix compile --warnings-as-errors --force)
  # OTP's dialyzer through the project's own mix task (no dialyxir: Hex is unreachable),
  # on both projects' modules; its PLT is cached in $POLYETL_CACHE/elixir-plt.
  run mix dialyzer
)

shell_lint() {
  if command -v shellcheck >/dev/null; then
    (cd "$REPO_ROOT" && run shellcheck -x hack/*.sh hack/machine/*.sh hack/machine/runc-capclamp images/*/*.sh .ci/run)
  else
    die "shellcheck not installed: run 'make setup'"
  fi
}

main() {
  [[ $# -eq 1 ]] || die "usage: $0 python|rust|elixir|shell|all"
  case "$1" in
    python) phase "lint: python" python_lint ;;
    rust) phase "lint: rust" rust_lint ;;
    elixir) phase "lint: elixir" elixir_lint ;;
    shell) phase "lint: shell" shell_lint ;;
    all)
      # One after the other, never `a && b`: errexit is off in all but the last of such a
      # list, so a failing `cargo fmt --check` followed by a passing clippy would pass.
      phase "lint: shell" shell_lint
      phase "lint: python" python_lint
      phase "lint: rust" rust_lint
      phase "lint: elixir" elixir_lint
      ;;
    *) die "expected a language (python, rust, elixir, shell, all), got: \"$1\"" ;;
  esac
}

main "$@"
