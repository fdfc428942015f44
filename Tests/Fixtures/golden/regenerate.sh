#!/usr/bin/env bash
# Writes what vfioctl prints for every fixture snapshot (inspect --json, iommu --json) into
# Tests/Fixtures/golden/, which GoldenOutputTests compares byte for byte. Run it only when an
# output change is meant (a new field, a schema version), and say so in the commit.
#
# Usage: Tests/Fixtures/golden/regenerate.sh [BIN_DIR]   (default .build/debug)
set -euo pipefail
cd "$(dirname "$0")/../../.."
bin=${1:-.build/debug}
for command in inspect iommu; do
    rm -rf "Tests/Fixtures/golden/$command" && mkdir -p "Tests/Fixtures/golden/$command"
    for snapshot in Tests/Fixtures/snapshots/*.tar.gz; do
        name=$(basename "$snapshot" .tar.gz)
        "$bin/vfioctl" "$command" --json --snapshot "$snapshot" > "Tests/Fixtures/golden/$command/$name.json"
    done
done
echo "wrote $(ls Tests/Fixtures/golden/*/*.json | wc -l) files under Tests/Fixtures/golden"
