#!/usr/bin/env bash
# vfioctl's libvirt hook and vfio-aerd under a real libvirtd (started here, stopped at the end):
#  1. a Windows 2008 domain given both functions of an 82576 is refused by `virsh start`,
#     and libvirt's error carries vfioctl's message;
#  2. a domain without hostdevs starts and stops, and the hook saw prepare, started, release;
#  3. two running TCG guests, one owning the seed's 82576 0000:04:00.0 (registered as the
#     hook registers it): an injected BEGIN_RECOVERY makes vfio-aerd destroy exactly that
#     guest, SUCCESSFUL_RECOVERY starts it again, the other guest never changes state, and
#     the journal holds every event and decision;
#  4. libvirtd stopped while an error arrives: the event waits unhandled in the journal, and
#     once libvirtd is back the daemon reconnects and destroys the owner.
#  5. `vfioctl xml` output for the seed's 82576 group, spliced into domains: `virsh define`
#     accepts it (and libvirt reads back the four hostdevs); `virsh start` of a Windows 2008
#     one is refused with the same vfioctl message as the hand-written win2k8-dual-pf.xml;
#     a plain one is prepared exactly as the hand-written seed-group.xml (same hook calls,
#     same registration, same libvirt outcome). The last is skipped (SKIP) on a machine that
#     has one of those PCI addresses itself: libvirt would detach it (managed='yes').
# Host state comes from the seed host (a snapshot for the hook, a generated tree for the
# daemon), so nothing on this machine's PCI devices is touched. The daemon's uevents come
# through its --inject-socket: the kernel's come only from real hardware (see the lab).
# Prints `LIBVIRT <check> PASS|FAIL …` and `N passed, M failed`.
# Usage: Tests/Libvirt/libvirt-test.sh BIN_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
work=$(mktemp -d /tmp/vfioctl-libvirt-XXXXXX)
hook=/etc/libvirt/hooks/qemu.d/vfioctl-test
uri=qemu:///system
passed=0
failed=0

cleanup() {
    [ -n "${aerd_pid:-}" ] && kill "$aerd_pid" 2>/dev/null
    for domain in vfioctl-win2k8 vfioctl-plain vfioctl-aer-a vfioctl-aer-b vfioctl-xml-win2k8 vfioctl-xml-group \
        vfioctl-hand-group; do
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
start_libvirtd() {  # starts libvirtd and waits until it answers
    libvirtd --daemon --pid-file "$work/libvirtd.pid" || return 1
    for _ in $(seq 1 150); do timeout 10 virsh -c "$uri" version >/dev/null 2>&1 && break; sleep 0.2; done
}
start_libvirtd || { result start FAIL "libvirtd did not start"; echo "$passed passed, $failed failed"; exit 1; }

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

# 5. Definitions from `vfioctl xml`, checked by the real libvirtd and the hook.
seed_snapshot="$here/../Fixtures/snapshots/seed-host.tar.gz"
splice() {  # TEMPLATE NAME FRAGMENT OUT: the template's hostdevs and comments replaced by FRAGMENT
    python3 - "$@" <<'PY'
import re, sys
template, name, fragment, out = sys.argv[1:5]
text = open(template).read()
text = re.sub(r"\s*<!--.*?-->", "", text, flags=re.S)
text = re.sub(r"\s*<hostdev .*?</hostdev>", "", text, flags=re.S)
text = re.sub(r"<name>[^<]*</name>", "<name>" + name + "</name>", text)
text = text.replace("</devices>", open(fragment).read() + "  </devices>")
open(out, "w").write(text)
PY
}
if "$bin/vfioctl" xml 0000:04:00.0 --snapshot "$seed_snapshot" > "$work/seed-hostdevs.xml" 2>"$work/xml.err"; then
    splice "$here/win2k8-dual-pf.xml" vfioctl-xml-win2k8 "$work/seed-hostdevs.xml" "$work/xml-win2k8.xml"
    splice "$here/plain.xml" vfioctl-xml-group "$work/seed-hostdevs.xml" "$work/xml-group.xml"
    defined=""
    for domain in xml-win2k8 xml-group; do
        if timeout 180 virsh -c "$uri" define "$work/$domain.xml" >/dev/null 2>>"$work/define.err"; then
            # What libvirt itself read: the four source addresses, in order.
            read_back=$(timeout 60 virsh -c "$uri" dumpxml "vfioctl-$domain" | python3 -c 'import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
print(" ".join("%s:%s:%s.%s/%s" % (a.get("domain"), a.get("bus"), a.get("slot"), a.get("function"), h.get("managed"))
    for h in root.iter("hostdev") for a in [h.find("source/address")]))')
            defined="$defined $domain=[$read_back]"
        else
            defined="$defined $domain=refused"
        fi
    done
    want="[0x0000:0x04:0x00.0x0/yes 0x0000:0x04:0x00.0x1/yes 0x0000:0x05:0x00.0x0/yes 0x0000:0x05:0x00.0x1/yes]"
    if [ "$defined" = " xml-win2k8=$want xml-group=$want" ]; then
        result xml-define PASS "virsh define accepted both, libvirt reads back $want"
    else
        result xml-define FAIL "defined:$defined $(cat "$work/define.err")"
    fi

    # The Windows 2008 guest: refused with the quirk's message, word for word as for the
    # hand-written domain of check 1 ($refusal). The generated one gives the whole group, so
    # the hand-written one's "shares its IOMMU group" lines must not appear.
    generated=$(timeout 180 virsh -c "$uri" start vfioctl-xml-win2k8 2>&1)
    status=$?
    quirk_line() { grep -o '\[intel-82576-dual-pf-windows-2008\].*VFs\.' <<<"$1" | head -1; }
    if [ $status -ne 0 ] && [ -n "$(quirk_line "$refusal")" ] && [ "$(quirk_line "$generated")" = "$(quirk_line "$refusal")" ] \
        && ! grep -q "shares its IOMMU group" <<<"$generated" && [ ! -e "$work/state/domains/vfioctl-xml-win2k8" ]; then
        result xml-refuse-dual-pf PASS "refused with: $(quirk_line "$generated")"
    else
        result xml-refuse-dual-pf FAIL "virsh start said: $generated; hand-written: $refusal"
    fi

    # The plain guest, prepared by the hook as the hand-written seed-group.xml is. The hook is
    # wrapped for this check to keep a copy of each registration it writes at `prepare begin`
    # (release removes the original when libvirt gives up on devices this machine lacks).
    present=""
    for address in 0000:04:00.0 0000:04:00.1 0000:05:00.0 0000:05:00.1; do
        [ -e "/sys/bus/pci/devices/$address" ] && present="$present $address"
    done
    if [ -n "$present" ]; then
        echo "LIBVIRT xml-prepare-like-hand-written SKIP this machine has$present: libvirt would detach it"
    else
        mkdir -p "$work/registered"
        cat > "$hook" <<HOOK
#!/bin/sh
$bin/vfioctl hook libvirt --config $work/hook.toml "\$@"
rc=\$?
[ "\$2 \$3" = "prepare begin" ] && cp "$work/state/domains/\$1" "$work/registered/\$1" 2>/dev/null
exit \$rc
HOOK
        timeout 180 virsh -c "$uri" define "$here/seed-group.xml" >/dev/null 2>>"$work/define.err"
        outcome() {  # domain: libvirt's exit status and message, the hook calls, the registration
            local said status
            said=$(timeout 180 virsh -c "$uri" start "$1" 2>&1)
            status=$?
            sleep 1
            timeout 60 virsh -c "$uri" destroy "$1" >/dev/null 2>&1
            sleep 1
            echo "status $status: $said" | sed "s/$1/DOMAIN/g"
            grep "^$1 " "$work/hook.log" | sed "s/^$1 /DOMAIN /" | tr '\n' ','
            echo
            cat "$work/registered/$1" 2>/dev/null || echo "(no registration)"
        }
        hand=$(outcome vfioctl-hand-group)
        generated=$(outcome vfioctl-xml-group)
        printf '#!/bin/sh\nexec %s hook libvirt --config %s "$@"\n' "$bin/vfioctl" "$work/hook.toml" > "$hook"
        if [ "$hand" = "$generated" ] && grep -q "DOMAIN prepare begin" <<<"$hand" \
            && [ "$(grep -c '^device ' "$work/registered/vfioctl-xml-group" 2>/dev/null)" = 4 ]; then
            result xml-prepare-like-hand-written PASS "$(tr '\n' ' ' <<<"$generated")"
        else
            result xml-prepare-like-hand-written FAIL "hand-written: $hand --- generated: $generated"
        fi
    fi
else
    result xml-define FAIL "vfioctl xml failed: $(cat "$work/xml.err")"
fi

# 3. vfio-aerd: only the owner of the failing device goes down, and comes back.
state() { timeout 60 virsh -c "$uri" domstate "$1" 2>/dev/null | head -1; }
domain_id() { timeout 60 virsh -c "$uri" domid "$1" 2>/dev/null | head -1; }
wait_state() {  # domain state seconds
    for _ in $(seq 1 $(($3 * 5))); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
inject() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(sys.argv[2].encode(), sys.argv[1])' "$work/aerd.sock" "$1"; }
for guest in a b; do
    sed "s/vfioctl-plain/vfioctl-aer-$guest/" "$here/plain.xml" > "$work/aer-$guest.xml"
    timeout 180 virsh -c "$uri" define "$work/aer-$guest.xml" >/dev/null
    timeout 180 virsh -c "$uri" start "vfioctl-aer-$guest" >/dev/null 2>>"$work/start.err"
done
"$bin/vfioctl-hostgen" seed --dumps "$here/../Fixtures/pciutils" -o "$work/host" >/dev/null
mkdir -p "$work/aerd-state/domains"
echo "device 0000:04:00.0" > "$work/aerd-state/domains/vfioctl-aer-a"
echo "restart-backoff-seconds = 1" > "$work/aerd.toml"
"$bin/vfio-aerd" --no-udev --inject-socket "$work/aerd.sock" --libvirt "$uri" --root "$work/host" --state-dir "$work/aerd-state" \
    --journal "$work/aer.db" --policy "$work/aerd.toml" 2>"$work/aerd.log" &
aerd_pid=$!
for _ in $(seq 1 100); do [ -S "$work/aerd.sock" ] && grep -q watching "$work/aerd.log" && break; sleep 0.1; done
b_id=$(domain_id vfioctl-aer-b)
if [ "$(state vfioctl-aer-a)" != running ] || [ "$(state vfioctl-aer-b)" != running ]; then
    result aerd-setup FAIL "guests not running: a=$(state vfioctl-aer-a) b=$(state vfioctl-aer-b); $(cat "$work/start.err")"
else
    inject $'PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0'
    if wait_state vfioctl-aer-a "shut off" 60 && [ "$(state vfioctl-aer-b)" = running ]; then
        result aerd-destroys-owner PASS "vfioctl-aer-a shut off, vfioctl-aer-b running"
    else
        result aerd-destroys-owner FAIL "a=$(state vfioctl-aer-a) b=$(state vfioctl-aer-b); daemon: $(cat "$work/aerd.log")"
    fi
    inject $'PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=SUCCESSFUL_RECOVERY\nDEVICE_ONLINE=1'
    if wait_state vfioctl-aer-a running 120; then
        result aerd-restarts-owner PASS "vfioctl-aer-a running again after the back-off"
    else
        result aerd-restarts-owner FAIL "a=$(state vfioctl-aer-a); daemon: $(cat "$work/aerd.log")"
    fi
    b_after=$(domain_id vfioctl-aer-b)
    if [ "$(state vfioctl-aer-b)" = running ] && [ "$b_id" = "$b_after" ]; then
        result aerd-other-untouched PASS "vfioctl-aer-b kept domain id $b_id throughout"
    else
        result aerd-other-untouched FAIL "vfioctl-aer-b: $(state vfioctl-aer-b), id $b_id -> $b_after"
    fi
    journal=$("$bin/vfioctl" aer log --journal "$work/aer.db" --json)
    summary=$(python3 -c 'import json,sys
entries = json.load(sys.stdin)
print(" ".join(e["kind"] + (":" if e["decisions"] else "") + ",".join(d["action"] + "/" + d["domain"] for d in e["decisions"]) for e in entries))' <<<"$journal")
    if [ "$summary" = "begin-recovery:destroy/vfioctl-aer-a successful-recovery:restart-scheduled/vfioctl-aer-a,start/vfioctl-aer-a" ]; then
        result aerd-journal PASS "$summary"
    else
        result aerd-journal FAIL "journal: $summary"
    fi

    # 4. libvirtd goes away during an error and comes back: the event waits in the journal,
    #    unhandled, and the daemon reconnects and acts on it (the guests' QEMUs never stop).
    wait_state vfioctl-aer-a running 60
    kill "$(cat "$work/libvirtd.pid")" 2>/dev/null
    for _ in $(seq 1 50); do pgrep -x libvirtd >/dev/null || break; sleep 0.2; done
    inject $'PCI_SLOT_NAME=0000:04:00.0\nERROR_EVENT=BEGIN_RECOVERY\nDEVICE_ONLINE=0'
    sleep 2
    waiting=$("$bin/vfioctl" aer log --journal "$work/aer.db" --json | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if not e["handled"]))')
    start_libvirtd
    if [ "$waiting" = 1 ] && wait_state vfioctl-aer-a "shut off" 60 && [ "$(state vfioctl-aer-b)" = running ] \
        && [ "$(domain_id vfioctl-aer-b)" = "$b_id" ]; then
        result aerd-reconnects PASS "event unhandled while libvirtd was away, then vfioctl-aer-a destroyed; vfioctl-aer-b untouched"
    else
        result aerd-reconnects FAIL "unhandled while away: $waiting; a=$(state vfioctl-aer-a) b=$(state vfioctl-aer-b); daemon: $(tail -5 "$work/aerd.log")"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
