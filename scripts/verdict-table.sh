#!/usr/bin/env bash
# Prints the README's "Industry policies" verdict table for the given model files.
# Needs `refresh-check` on PATH and jq. Usage: scripts/verdict-table.sh models/FILE.json...
set -euo pipefail
# One row per model file (as `check` prints it), one column per property:
# ✗ violated (shortest counterexample length), ✓ holds, r reached, – unreached.
props="no_spurious_logout rotated_token_expires sp1_immediate_predecessor sp2_detection_permanent sp3_single_lineage logout_revokes_all sp6_absolute_lifetime sp9_revocation_scope lp4_lock_not_orphaned theft_detected reuse_detected"
echo "| model | states | $(echo $props | sed 's/ / | /g') |"
echo "|---|---:|$(for p in $props; do printf -- '---|'; done)"
for f in "$@"; do
  refresh-check check --no-traces --format json "$f" | jq -r --arg props "$props" '
    . as $r | ($props | split(" ")) as $ps
    | "| `\($r.model)` | \($r.unique_states) | " + ([ $ps[] as $p | ($r.properties[] | select(.name == $p)
        | if .status == "violated" then "✗ \(.steps)" elif .status == "holds" then "✓"
          elif .status == "reached" then "r \(.steps)" else "–" end) ] | join(" | ")) + " |"'
done
