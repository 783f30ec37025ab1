#!/usr/bin/env bash
# The template test: what the generators write works (docs/extending.md).
#
#   hack/template-test.sh          (make test-template; part of make test)
#
# A copy of this repository (the working tree's tracked and new files, not the ignored ones)
# in $TEMPLATE_DIR; in it, one provider, one command per language and one pipeline chaining
# them are generated, each through its `make new-*` target, then the copy runs its own gates:
# every language's lint and unit tests, its task images (under their own tag), the contract
# suite against them, the DAG tests, and the provider check on a sample the copy's rstask
# image generates. The checkout is only read. The copy and its images are removed at the end,
# pass or fail.
#
# The copy's cargo builds go to a target directory of their own: one shared with the checkout
# would be wrong, not just slow (cargo keys a workspace's artifacts by paths relative to it and
# by mtimes, so each side would take the other's fresh build for its own). It starts as a copy
# of the checkout's, so only the copy's own crate is compiled, never the dependencies again.
#
# The provider differs from the shipped ones in its format details (a '|' delimiter, a
# day-first local timestamp, New York time), so the test proves the generator, not a renamed
# copy of a shipped mapping. The Elixir PLT and the S3 server binary come from the shared
# cache as for the checkout.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPLATE_DIR="${TEMPLATE_DIR:-${TMPDIR:-/tmp}/polyetl-template}"
TEMPLATE_TAG="$(image_tag)-template"
PROVIDER=zeta

# copy_worktree <dir>: the files git tracks or would track (not ignored), as they are now.
copy_worktree() {
  local dir="$1"
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$REPO_ROOT" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' path; do [[ -e "$path" ]] && printf '%s\0' "$path"; done |
    xargs -0 cp --parents --no-dereference --target-directory="$dir")
}

CARGO_TARGET="$POLYETL_CACHE/cargo-target-template"

# The copy's cargo target directory, first made from the checkout's (mtimes kept: its
# dependencies stay fresh; the copy's newer sources rebuild its own crate).
seed_cargo_target() {
  local checkout="${CARGO_TARGET_DIR:-$POLYETL_CACHE/cargo-target}"
  if [[ ! -d "$CARGO_TARGET" && -d "$checkout" ]]; then
    rm -rf "$CARGO_TARGET.tmp"
    run cp -a "$checkout" "$CARGO_TARGET.tmp"
    mv "$CARGO_TARGET.tmp" "$CARGO_TARGET"
  fi
}

# in_copy <command...>: run a command in the copy, its phases marked "template: ...".
in_copy() {
  (cd "$TEMPLATE_DIR" && run env TAG="$TEMPLATE_TAG" POLYETL_PHASE_PREFIX="template: " \
    CARGO_TARGET_DIR="$CARGO_TARGET" "$@")
}

generate() {
  in_copy make new-provider NAME="$PROVIDER" ARGS="--format csv --delimiter '|' \
    --timestamp '%d.%m.%Y %H:%M:%S' --timezone America/New_York \
    --column match_id=partita --column event_type=evento --column occurred_at=ora_locale \
    --column team=squadra --column player=giocatore --column odds_home=quota_1 \
    --column odds_draw=quota_x --column odds_away=quota_2 --column score_home=gol_casa \
    --column score_away=gol_ospiti --event-id '{provider}-{partita}-{progressivo}' \
    --event-type INIZIO=kickoff --event-type GOL=goal --event-type RIGORE=penalty \
    --event-type AMMONIZIONE=card --event-type ESPULSIONE=card --event-type CAMBIO=substitution \
    --event-type QUOTA=odds --event-type INTERVALLO=half_time --event-type FINE=full_time"
  in_copy make new-command LANGUAGE=python NAME=score-events \
    FLAGS='limit:int mode:choice(fast|exact)=fast label:text' SUMMARY='Score the events of a window'
  in_copy make new-command LANGUAGE=rust NAME=tally \
    FLAGS='window-size:int=60 unit:choice(seconds|minutes)=seconds' SUMMARY='Tally events per window'
  in_copy make new-command LANGUAGE=elixir NAME=notify \
    FLAGS='channel:text retries:int=3' SUMMARY='Notify a channel of the results'
  in_copy make new-pipeline NAME="${PROVIDER}_flow" MAPPED=tally \
    STEPS='python:score-events --limit 5 --label zeta; rust:tally; elixir:notify --channel ops' \
    SUMMARY='Score, tally and notify'
}

# The copy's rstask image writes a feed for the new provider, then checks the mapping against
# it: the staged and quarantined counts must be the generator's, reason by reason.
provider_check() {
  local data image="polyetl/rstask:$TEMPLATE_TAG"
  data="$(mktemp -d -t polyetl-provider.XXXXXX)"
  chmod 0777 "$data"
  local docker=(docker run --rm --network none --user 10001:10001 -v "$data:/data"
    -v "$TEMPLATE_DIR/tasks/rust/mappings:/mappings:ro" "$image")
  run "${docker[@]}" generate --provider "$PROVIDER" --rows 5000 --seed 11 \
    --bad bad_quoting=0.01,wrong_field_count=0.01,wrong_type=0.01,timestamp_out_of_range=0.01,duplicate_key=0.01,unknown_enum=0.01 \
    --gzip --output /data/sample.csv.gz --result-file /data/generated.json
  run "${docker[@]}" check-mapping --mapping "/mappings/$PROVIDER.toml" \
    --sample /data/sample.csv.gz --rows 5 --result-file /data/checked.json
  python3 - "$data/generated.json" "$data/checked.json" <<'EOF'
import json, sys
generated, checked = (json.load(open(path))["counts"] for path in sys.argv[1:])
keys = [k for k in generated if k.startswith(("rows_", "quarantined_"))]
differ = {k: (generated[k], checked.get(k)) for k in keys if generated[k] != checked.get(k)}
assert not differ, f"check-mapping counted differently from generate: {differ}"
assert checked["rows_out"] > 0 and checked["rows_quarantined"] > 0, checked
print(f"provider check: {checked['rows_out']} staged, {checked['rows_quarantined']} quarantined,"
      " every reason as generated")
EOF
  rm -rf "$data"
}

cleanup() {
  local refs
  refs="$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E ":${TEMPLATE_TAG}\$" || true)"
  if [[ -n "$refs" ]]; then
    # shellcheck disable=SC2086 # one reference per word
    docker image rm --force $refs >/dev/null
  fi
  rm -rf "$TEMPLATE_DIR"
}

main() {
  trap cleanup EXIT
  phase "template: copy the repository" copy_worktree "$TEMPLATE_DIR"
  phase "template: generate" generate
  seed_cargo_target
  in_copy make lint test-python test-rust test-elixir
  in_copy hack/images.sh build python rust elixir
  in_copy make test-contract test-dags
  phase "template: provider check" provider_check
}

main "$@"
