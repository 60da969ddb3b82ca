#!/usr/bin/env python3
"""Ablation table of `lutgen suite --json` runs (issue 21), as Markdown.

Usage: scripts/fidelity_ablation.py "LABEL|ARGS|run.json" ...

Per run, over its rows of one method (the first in the run's summary):
the validation gap of a row is the model's float validation accuracy minus
the compiled network's accuracy on the suite's validation rows (integer
reference), in points; the test gap is the row's `gap_points`. The
validation columns choose; the test columns are shown only.
"""
import json
import sys


def stats(xs):
    return sum(xs) / len(xs), max(xs)


def main(argv):
    print("| setting | ARGS | rows | mean validation gap | worst validation row "
          "| mean test gap | worst test row |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for spec in argv:
        label, args, path = spec.split("|")
        report = json.load(open(path))
        fv = {m["name"]: m["accuracy_float_validation"] for m in report["models"]}
        rows = [r for r in report["rows"] if r["refused"] is None]
        val = [100 * (fv[r["model"]] - r["accuracy_reference_validation"]) for r in rows]
        test = [r["gap_points"] for r in rows]
        vm, vw = stats(val)
        tm, tw = stats(test)
        print(f"| {label} | `{args}` | {len(rows)} | {vm:.2f} | {vw:.2f} | {tm:.2f} | {tw:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
