#!/usr/bin/env python3
"""Saves the snapshots lab guests wrote (the base64 `snapshot` section of amd-vi and igb-sriov)
as Tests/Fixtures/snapshots/lab-<scenario>-<kernel>.tar.gz, for unit tests on real bytes.

Usage: Tests/VMLab/save_snapshots.py [RESULTS_DIR]   (default .build/vmlab/results)
Run it after `make vmlab` when a scenario's hardware or kernel changed; commit what it wrote."""
import base64
import os
import sys

from check import SNAPSHOT_SCENARIOS, sections

here = os.path.dirname(os.path.abspath(__file__))
results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../.build/vmlab/results")
target = os.path.join(here, "../Fixtures/snapshots")
saved = 0
for entry in sorted(os.listdir(results)):
    run, extension = os.path.splitext(entry)
    if extension != ".console" or run.split("@")[0] not in SNAPSHOT_SCENARIOS:
        continue
    with open(os.path.join(results, entry), errors="replace") as handle:
        found, _ = sections(handle.read())
    encoded = found.get("snapshot", "").strip()
    if not encoded:
        print(f"{run}: no snapshot in its console", file=sys.stderr)
        continue
    name = "lab-" + run.replace("@", "-") + ".tar.gz"
    with open(os.path.join(target, name), "wb") as handle:
        handle.write(base64.b64decode(encoded))
    print(f"wrote Tests/Fixtures/snapshots/{name}")
    saved += 1
sys.exit(0 if saved else 1)
