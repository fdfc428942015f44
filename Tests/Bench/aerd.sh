#!/usr/bin/env bash
# vfio-aerd under load, with guests from libvirt's in-process test driver (a node file with
# GUESTS running domains, each owning one PCI function):
#  1. aer_event_to_destroy: one BEGIN_RECOVERY per guest; the journal records, per destroy,
#     the time from the event's arrival to the libvirt call (asking libvirt for the running
#     guests' XML included, libvirt's own destroy excluded). Goal: p99 under 50 ms.
#  2. a storm of 10,000 correctable events sent within a minute: every one must reach the
#     journal, and the daemon's peak RSS (VmHWM) stays bounded. Goal: under 40 MB.
# Events come through the daemon's --inject-socket (a test double for the kernel's uevents).
# Prints BENCH lines; exits non-zero if an event is lost.
set -euo pipefail
bin=$(cd "${1:-.build/release}" && pwd)
guests=${GUESTS:-64}
storm=${STORM:-10000}
work=$(mktemp -d /tmp/vfioctl-aerdbench-XXXXXX)
trap 'if [ -n "${aerd:-}" ]; then kill "$aerd" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
"$bin/vfioctl-hostgen" seed --dumps "$(dirname "$0")/../Fixtures/pciutils" -o "$work/host" >/dev/null

address() { printf '0000:%02x:%02x.%x' $((0x10 + $1 / 32)) $(($1 % 32)) 0; }
{
    echo "<node>"
    for i in $(seq 0 $((guests - 1))); do
        a=$(address "$i")
        echo "<domain type='test'><name>guest$i</name><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
        echo "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x${a:5:2}' slot='0x${a:8:2}' function='0x0'/></source></hostdev>"
        echo "</devices></domain>"
    done
    echo "</node>"
} > "$work/node.xml"
echo "restart = false" > "$work/aerd.toml"
"$bin/vfio-aerd" --no-udev --inject-socket "$work/sock" --libvirt "test://$work/node.xml" --root "$work/host" \
    --state-dir "$work/state" --journal "$work/aer.db" --policy "$work/aerd.toml" 2> "$work/aerd.log" &
aerd=$!
for _ in $(seq 1 100); do grep -q watching "$work/aerd.log" && break; sleep 0.1; done
idle_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$aerd/status")

python3 - "$work/sock" "$guests" "$storm" <<'PY'
import socket, sys, time
path, guests, storm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(guests):
    address = "0000:%02x:%02x.0" % (0x10 + i // 32, i % 32)
    s.sendto(f"PCI_SLOT_NAME={address}\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0\n".encode(), path)
    time.sleep(0.01)
start = time.time()
for i in range(storm):
    s.sendto(b"PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=correctable\nCOUNT=1\n", path)
print(f"storm of {storm} sent in {time.time() - start:.1f} s", file=sys.stderr)
PY
expected=$((guests + storm))
for _ in $(seq 1 600); do
    count=$("$bin/vfioctl" aer stats --journal "$work/aer.db" --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(s["errors"].values()))')
    [ "$count" -ge "$expected" ] && break
    sleep 0.1
done
rss_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$aerd/status")
kill -TERM "$aerd"; wait "$aerd" || true

"$bin/vfioctl" aer log --journal "$work/aer.db" --json | python3 -c '
import json, sys
entries = json.load(sys.stdin)
lat = sorted(float(d["latencyMs"]) for e in entries for d in e["decisions"] if d["action"] == "destroy")
destroyed = {d["domain"] for e in entries for d in e["decisions"] if d["action"] == "destroy"}
def pct(p): return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
print(f"destroyed {len(destroyed)} of {int(sys.argv[1])} guests; latency p50 {pct(50):.2f} ms, max {lat[-1]:.2f} ms")
print(f"BENCH aer_event_to_destroy_p99 {pct(99):.2f} ms")
if len(destroyed) != int(sys.argv[1]): sys.exit("a guest was not destroyed")
' "$guests"
echo "journal holds $count of $expected events"
echo "vfio-aerd resident after start-up: $(awk "BEGIN { printf \"%.1f\", $idle_kb / 1024 }") MB"
echo "BENCH aerd_peak_rss $(awk "BEGIN { printf \"%.1f\", $rss_kb / 1024 }") MB"
[ "$count" -eq "$expected" ] || { echo "events lost: journal $count, sent $expected" >&2; exit 1; }
