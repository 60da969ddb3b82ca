#!/usr/bin/env bash
# The test suite: what CI runs (`.ci/run`) and what the README's step 3 is.
#
#   bash scripts/test.sh          every test (9 to 10 minutes on 2 cores from a clean clone, with setup 18)
#   bash scripts/test.sh --slow   the slow sweeps kept out of the default run: the ignored tests
#                                 (the ECP5 flow, which needs `scripts/setup.sh --ecp5`; the
#                                 unfolded 256-centroid engine) and every
#                                 encoder placed and routed on the HX8K and the ECP5-85F
#                                 (`lutgen report`, into build/slow-report/)
#
# Tests run under cargo-nextest when it is installed (one process per test, spread over
# every core across all test binaries), else under `cargo test`; `cargo fmt --check`
# and the doc tests come first. Built Verilator models are cached in $LUTGEN_CACHE_DIR
# (default target/lutgen-models), and the synthesis and place-and-route steps in
# $LUTGEN_FLOW_CACHE_DIR (default target/lutgen-flow), both shared by every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export LUTGEN_CACHE_DIR="${LUTGEN_CACHE_DIR:-$PWD/target/lutgen-models}"
export LUTGEN_FLOW_CACHE_DIR="${LUTGEN_FLOW_CACHE_DIR-$PWD/target/lutgen-flow}"

if [ "${1:-}" = "--slow" ]; then
  PATH="$HOME/.local/bin:$PATH"
  cargo test --release -p lutgen-tests --test board --test cosim -- --ignored
  cargo run --release -p lutgen -- report --boards hx8k-breakout,ulx3s-85f \
    --presets default,wide,two-level,tree,sign --out build/slow-report
  exit 0
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--slow]" >&2
  exit 2
fi

cargo fmt --all -- --check
if cargo nextest --version >/dev/null 2>&1; then
  # Doc tests first: nextest does not run them, and its summary should close the output.
  cargo test --workspace --release --doc
  cargo nextest run --workspace --release --no-fail-fast
else
  echo "cargo-nextest not found: running cargo test (slower: one test binary at a time)" >&2
  cargo test --workspace --release
fi
