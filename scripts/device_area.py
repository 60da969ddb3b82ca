#!/usr/bin/env python3
"""Per-block SB_LUT4 / SB_CARRY / flip-flops of a device from a yosys stat
of the build directory's top.v, either with the blocks kept apart
(scripts/device_area.ys) or not flattened at all:

    yosys -q -s scripts/device_area.ys
    python3 scripts/device_area.py blocks_stat.txt
    yosys -q -p "read_verilog top.v; synth_ice40 -noflatten -top lutgen_board; \
        tee -q -o noflatten_stat.txt stat"
    python3 scripts/device_area.py noflatten_stat.txt

Every module rust-hdl emits is instantiated once, so a block is the sum
of the modules whose names start with its path. CRC units are counted
apart from the block that holds them."""
import re
import sys
from collections import defaultdict

BLOCKS = [
    ("crc units", re.compile(r"\$(rx_crc|tx_crc|crc_unit)(\$|$)")),
    ("engine", re.compile(r"^lutgen_device\$core\$engine(\$|$)")),
    ("image loader", re.compile(r"^lutgen_device\$core\$(image|network)_loaders\$0(\$|$)")),
    ("transmitter", re.compile(r"^lutgen_device\$core\$transmitter(\$|$)")),
    ("executor", re.compile(r"^lutgen_device\$core\$executor(\$|$)")),
    ("receiver", re.compile(r"^lutgen_device\$core\$receiver(\$|$)")),
    ("queues and buffer", re.compile(r"^lutgen_device\$core\$(jobs|replies|buffer|trace_fifos\$0)(\$|$)")),
    ("uart", re.compile(r"^lutgen_device\$uart_(rx|tx)(\$|$)")),
    # With device_area.ys the core is flattened into the top.
    ("core glue, top, PLL", re.compile(r".")),
]


def main(path):
    text = open(path).read()
    totals = defaultdict(lambda: defaultdict(int))
    for m in re.finditer(r"=== (\S+) ===(.*?)(?====|\Z)", text, re.S):
        name, body = m.group(1).lstrip("\\"), m.group(2)
        if name == "design hierarchy":
            continue
        block = next(b for b, rx in BLOCKS if rx.search(name))
        for cell, count in re.findall(r"^\s+(SB_\w+)\s+(\d+)\s*$", body, re.M):
            kind = "FF" if cell.startswith("SB_DFF") else cell
            totals[block][kind] += int(count)
    print(f"{'block':<20} {'SB_LUT4':>8} {'SB_CARRY':>8} {'FF':>6} {'BRAM':>5}")
    total = defaultdict(int)
    for block, _ in BLOCKS:
        t = totals[block]
        print(f"{block:<20} {t['SB_LUT4']:>8} {t['SB_CARRY']:>8} {t['FF']:>6} {t['SB_RAM40_4K']:>5}")
        if block != "engine":
            for k in ("SB_LUT4", "SB_CARRY", "FF"):
                total[k] += t[k]
    print(f"{'outside the engine':<20} {total['SB_LUT4']:>8} {total['SB_CARRY']:>8} {total['FF']:>6}")


if __name__ == "__main__":
    main(sys.argv[1])
