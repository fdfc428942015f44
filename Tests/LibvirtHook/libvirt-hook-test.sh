#!/usr/bin/env bash
# vfioctl's libvirt hook under a real libvirtd (started here, stopped at the end):
#  1. a Windows 2008 domain given both functions of an 82576 is refused by `virsh start`,
#     and libvirt's error carries vfioctl's message;
#  2. a domain without hostdevs starts and stops, and the hook saw prepare, started, release.
# Host state for the hook comes from the seed-host snapshot named in the hook's config file,
# so nothing on this machine's PCI devices is touched. Prints `LIBVIRT <check> PASS|FAIL …`
# and `N passed, M failed`.
# Usage: Tests/LibvirtHook/libvirt-hook-test.sh BIN_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/vfioctl-libvirt-XXXXXX)
hook=/etc/libvirt/hooks/qemu.d/vfioctl-test
uri=qemu:///system
passed=0
failed=0

cleanup() {
    for domain in vfioctl-win2k8 vfioctl-plain; do
        timeout 180 virsh -c "$uri" destroy "$domain" >/dev/null 2>&1
        timeout 180 virsh -c "$uri" undefine "$domain" >/dev/null 2>&1
    done
    [ -f "$work/libvirtd.pid" ] && kill "$(cat "$work/libvirtd.pid")" 2>/dev/null
    [ -f "$work/virtlogd.pid" ] && kill "$(cat "$work/virtlogd.pid")" 2>/dev/null
    rm -f "$hook"
    rm -rf "$work"
}
trap cleanup EXIT

result() {  # name status details
    if [ "$2" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    echo "LIBVIRT $1 $2 $3"
}

# The hook must be in place before libvirtd starts (libvirt finds hooks at start-up).
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
mkdir -p /etc/libvirt/hooks/qemu.d /var/log/libvirt /var/lib/libvirt/qemu /var/cache/libvirt/qemu /run/libvirt "$work/state"
cat > "$work/hook.toml" <<TOML
snapshot = "$here/../Fixtures/snapshots/seed-host.tar.gz"
state-dir = "$work/state"
log = "$work/hook.log"
TOML
printf '#!/bin/sh\nexec %s hook libvirt --config %s "$@"\n' "$bin/vfioctl" "$work/hook.toml" > "$hook"
chmod 755 "$hook"

# A libvirtd of our own: stop one that runs without our hook first.
pkill -x libvirtd 2>/dev/null && sleep 1
pgrep -x virtlogd >/dev/null || { virtlogd --daemon --pid-file "$work/virtlogd.pid" || true; }
libvirtd --daemon --pid-file "$work/libvirtd.pid" || { result start FAIL "libvirtd did not start"; echo "$passed passed, $failed failed"; exit 1; }
for _ in $(seq 1 150); do timeout 10 virsh -c "$uri" version >/dev/null 2>&1 && break; sleep 0.2; done

# 1. Refused: both 82576 functions to a Windows 2008 guest.
timeout 180 virsh -c "$uri" define "$here/win2k8-dual-pf.xml" >/dev/null
refusal=$(timeout 180 virsh -c "$uri" start vfioctl-win2k8 2>&1)
if [ $? -ne 0 ] && grep -q "intel-82576-dual-pf-windows-2008" <<<"$refusal" && grep -q "Give a Windows 2008 guest only one" <<<"$refusal"; then
    result refuse-dual-pf PASS "virsh start failed with vfioctl's message"
    [ -n "${VERBOSE:-}" ] && echo "$refusal"
else
    result refuse-dual-pf FAIL "virsh start said: $refusal"
fi
if [ -z "$(ls "$work/state/domains" 2>/dev/null)" ]; then
    result refusal-changes-nothing PASS "no registration left behind"
else
    result refusal-changes-nothing FAIL "state after a refusal: $(ls "$work/state/domains")"
fi

# 2. A guest without hostdevs starts and stops; the hook sees the whole life cycle.
timeout 180 virsh -c "$uri" define "$here/plain.xml" >/dev/null
if timeout 180 virsh -c "$uri" start vfioctl-plain >/dev/null 2>"$work/start.err"; then
    sleep 1
    timeout 180 virsh -c "$uri" destroy vfioctl-plain >/dev/null 2>&1
    sleep 1
    seen=$(grep '^vfioctl-plain ' "$work/hook.log" | tr '\n' ',')
    if grep -q "vfioctl-plain prepare begin" "$work/hook.log" && grep -q "vfioctl-plain started begin" "$work/hook.log" \
        && grep -q "vfioctl-plain release end" "$work/hook.log"; then
        result plain-life-cycle PASS "hook saw: $seen"
    else
        result plain-life-cycle FAIL "hook saw: $seen"
    fi
else
    result plain-life-cycle FAIL "virsh start failed: $(cat "$work/start.err")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
