#!/usr/bin/env bash
# OEE engine benchmark (release build, in process): 100 machines over a local day and over a rolling
# 24 h, and a line of 4 machines over a year, each first from raw samples (building the summaries),
# then from summaries (median of 21 answers), and for the line once more after one late sample.
# Usage: scripts/bench-oee.sh [extra `gemba bench oee` options]. Prints JSON lines and a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
# GEMBA_BIN measures another build (an earlier commit's, for a before/after in one run).
if [ -z "${GEMBA_BIN:-}" ]; then swift build -c release --product gemba >/dev/null; fi
"${GEMBA_BIN:-.build/release/gemba}" bench oee "$@"
