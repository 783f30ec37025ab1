#!/usr/bin/env bash
# Print the phases a run recorded (hack/lib.sh `phase`) as a table: when each began (from the
# run's start), how long it took, its name; phases that overlap (the e2e cluster made in the
# background) show as such by their start and length. A phase begun but never ended failed
# (or, run in the background, was cut short by the run's end): it is marked, with the time
# it ran until then.
#
#   phases.sh <file> [run start, seconds since the epoch]
set -o errexit -o nounset -o pipefail

main() {
  local file="${1:?usage: phases.sh <file> [run start]}" start="${2:-}"
  [[ -s "$file" ]] || { echo "no phases recorded in $file"; return 0; }
  awk -F'\t' -v start="$start" -v now="$(date +%s.%N)" '
    function clock(s) { s = int(s + 0.5); return sprintf("%d:%02d", int(s / 60), s % 60) }
    function span(s) { s = int(s + 0.5); return s >= 60 ? sprintf("%dm%02ds", int(s / 60), s % 60) : sprintf("%ds", s) }
    NR == 1 && start == "" { start = $1 }
    $2 == "begin" { n++; name[n] = $3; began[n] = $1; open[$3] = n }
    $2 == "end" && ($3 in open) { ended[open[$3]] = $1; delete open[$3] }
    END {
      printf "\n%-7s %8s  %s\n", "start", "took", "phase"
      for (i = 1; i <= n; i++) {
        mark = ""
        if (i in ended) { took = ended[i] - began[i] } else { took = now - began[i]; mark = "   <- never ended: failed, or cut short when the run stopped" }
        printf "%7s %8s  %s%s\n", clock(began[i] - start), span(took), name[i], mark
      }
      printf "%7s %8s  %s\n", "", span(now - start), "the whole run (wall clock; phases may overlap)"
    }' "$file"
}

main "$@"
