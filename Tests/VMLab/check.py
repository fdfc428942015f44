#!/usr/bin/env python3
"""Checks each lab scenario's console output: vfioctl's reading of the kernel's IOMMU groups
and its predicted groups must both equal /sys/kernel/iommu_groups as the guest listed it;
each topology must also look the way the scenario builds it. Prints one
`VMLAB <scenario> PASS|FAIL <details>` line each and a closing `N passed, M failed`."""
import json
import re
import sys


def sections(text):
    """The VMLAB-BEGIN/END blocks and VMLAB-STATUS lines of a console log."""
    found, status, current, lines = {}, {}, None, []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if line.startswith("VMLAB-BEGIN "):
            current, lines = line.split(" ", 1)[1], []
        elif line.startswith("VMLAB-END ") and current:
            found[current] = "\n".join(lines)
            current = None
        elif current is not None:
            lines.append(line)
        elif line.startswith("VMLAB-STATUS "):
            parts = line.split()
            status[parts[1]] = parts[2] if len(parts) > 2 else "?"
    return found, status


def groups_from_listing(text):
    groups = {}
    for line in text.splitlines():
        if line.strip():
            group, address = line.split()
            groups.setdefault(int(group), set()).add(address)
    return groups


def describe(sets):
    return "; ".join("{" + ",".join(sorted(s)) + "}" for s in sorted(sets, key=lambda s: sorted(s)))


def check(name, text):
    found, status = sections(text)
    if "VMLAB-DONE" not in text:
        return "guest did not finish (no VMLAB-DONE)"
    if status.get("scenario") != "0":
        return f"scenario script failed (status {status.get('scenario')})"
    if status.get("inspect") != "0":
        return f"vfioctl inspect exited {status.get('inspect')}: {found.get('inspect-stderr', '').strip()[:300]}"
    for key, value in status.items():
        found[f"_status_{key}"] = value
    report = json.loads(found["inspect"])
    kernel = groups_from_listing(found["kernel-groups"])
    if not kernel:
        return "the kernel formed no IOMMU groups (intel_iommu=on not effective?)"
    problems = []
    # 1. vfioctl reads the kernel's groups exactly.
    read = {g["id"]: set(g["devices"]) for g in (report.get("groups") or [])}
    if read != kernel:
        for gid in sorted(set(read) | set(kernel)):
            if read.get(gid) != kernel.get(gid):
                problems.append(f"group {gid}: kernel {sorted(kernel.get(gid, []))} vfioctl read {sorted(read.get(gid, []))}")
    # 2. Predicted groups equal the kernel's.
    kernel_sets = {frozenset(s) for s in kernel.values()}
    predicted_sets = {frozenset(g["devices"]) for g in report["predictedGroups"]}
    for missing in kernel_sets - predicted_sets:
        problems.append("kernel group {" + ",".join(sorted(missing)) + "} not predicted")
    for extra in predicted_sets - kernel_sets:
        problems.append("predicted group {" + ",".join(sorted(extra)) + "} is not a kernel group")
    if report["groupDisagreements"]:
        problems.append(f"vfioctl reports {len(report['groupDisagreements'])} disagreement(s)")
    # 3. The topology is what the scenario builds.
    devices = {d["address"]: d for d in report["devices"]}
    by_id = lambda ids: sorted(a for a, d in devices.items() if f"{d['vendorId']}:{d['deviceId']}" == ids)
    group_of = {a: gid for gid, members in kernel.items() for a in members}
    expectation = EXPECTATIONS.get(name)
    if expectation:
        problems += expectation(devices, by_id, group_of, found)
    if problems:
        return "; ".join(problems)
    return None, f"{len(devices)} functions, {len(kernel)} groups: {describe(kernel_sets)}"


def same_group(addresses, group_of):
    return len({group_of.get(a) for a in addresses}) == 1


def expect_switch(devices, by_id, group_of, found):
    members = by_id("8086:10d3") + by_id("1b36:0010") + by_id("8086:3420")
    if len(members) != 3:
        return [f"expected an e1000e, an NVMe and an ioh3420, found {members}"]
    return [] if same_group(members, group_of) else [f"{members} are not in one group"]


def expect_root_ports(devices, by_id, group_of, found):
    nics = by_id("8086:10d3")
    if len(nics) != 2:
        return [f"expected two e1000e, found {nics}"]
    return [] if not same_group(nics, group_of) else [f"{nics} share a group behind separate root ports"]


def expect_bridge(devices, by_id, group_of, found):
    members = by_id("8086:100e") + by_id("1b36:000e")
    if len(members) != 3:
        return [f"expected a pcie-pci-bridge and two e1000, found {members}"]
    return [] if same_group(members, group_of) else [f"{members} are not in one group (DMA alias)"]


def expect_multifunction(devices, by_id, group_of, found):
    nics = by_id("8086:10d3")
    if len(nics) != 2 or not all(devices[n]["multifunction"] for n in nics):
        return [f"expected two multifunction e1000e, found {nics}"]
    return [] if same_group(nics, group_of) else [f"{nics} are not in one group"]


def expect_rciep(devices, by_id, group_of, found):
    nics = by_id("8086:10d3")
    problems = []
    if len(nics) != 2 or not all(devices[n]["pcieType"] == "rc-integrated-endpoint" for n in nics):
        problems.append(f"expected two RC-integrated e1000e, found {[(n, devices[n]['pcieType']) for n in nics]}")
    elif same_group(nics, group_of):
        problems.append(f"{nics} share a group: the kernel's RCiEP quirk did not apply")
    quirks = {q["id"] for n in nics for q in devices[n]["quirks"]}
    if "kernel-acs-intel-rciep" not in quirks:
        problems.append(f"vfioctl did not match kernel-acs-intel-rciep (matched {sorted(quirks)})")
    return problems


def expect_sriov(devices, by_id, group_of, found):
    vfs = [a for a, d in devices.items() if any(r["code"] == "sriov-vf" for r in d["reasons"])]
    pfs = [a for a, d in devices.items() if d.get("sriov")]
    problems = []
    if len(vfs) != 2:
        problems.append(f"expected 2 VFs, vfioctl sees {vfs}")
    if len(pfs) != 1 or devices[pfs[0]]["sriov"]["numVFs"] != 2:
        problems.append(f"expected one PF with numVFs 2, found {[(p, devices[p]['sriov']) for p in pfs]}")
    return problems


def expect_aer(devices, by_id, group_of, found):
    """The harness hooks: AER injected through the monitor and counted by the kernel,
    hugepages reserved, vfio-pci loaded and unloaded."""
    problems = []
    match = re.search(r"nonfatal (\d+) -> (\d+)", found.get("aer", ""))
    if not match or int(match.group(2)) <= int(match.group(1)):
        problems.append(f"injected AER error not counted: {found.get('aer', 'no aer section').strip()}")
    if found.get("hugepages", "").strip() != "hugepages 16":
        problems.append(f"hugepages: {found.get('hugepages', '').strip()}")
    if found.get("modules", "").strip() != "vfio_pci loaded 1" or "unloaded" not in found.get("modules-after", ""):
        problems.append(f"modules: {found.get('modules', '').strip()} / {found.get('modules-after', '').strip()}")
    return problems


def expect_dma(devices, by_id, group_of, found):
    """VT-d large pages: 2M and 1G reported, hugepages reserved, 256 MiB mapped both ways."""
    problems = []
    units = json.loads(found.get("iommu", "{}")).get("units", [])
    if not units or not all({"2M", "1G"} <= set(u.get("superpages", [])) and u["largePages"]["available"] for u in units):
        problems.append(f"vfioctl iommu does not report 2M and 1G: {[(u.get('name'), u.get('superpages')) for u in units]}")
    reserved = json.loads(found.get("hugepages", "{}"))
    if reserved.get("got", 0) < 128:
        problems.append(f"2M hugepages reserved: {reserved.get('got')} (need 128 for 256 MiB)")
    short = json.loads(found.get("hugepages-short", "{}"))
    if found.get("_status_short") != "3" or not short.get("got", 99) < short.get("requested", 0):
        problems.append(f"asking for too many 1G pages: exit {found.get('_status_short')}, {short}")
    timings = {}
    for backing in ("4k", "2m"):
        result = json.loads(found.get(f"dma-{backing}", "{}"))
        if result.get("mapMicroseconds", 0) <= 0 or result.get("bytes") != 256 << 20:
            problems.append(f"dma-check {backing}: {result}")
        timings[backing] = result.get("mapMicroseconds", 0)
    if not problems:
        print(f"BENCH dma_map_256M_4k {timings['4k'] / 1000:.1f} ms")
        print(f"BENCH dma_map_256M_2M {timings['2m'] / 1000:.1f} ms")
        print(f"BENCH dma_map_256M_4k_vs_2M_ratio {timings['4k'] / timings['2m']:.2f} ratio")
    return problems


def drivers_of(text):
    return dict((line.split() + [""])[:2] for line in text.splitlines() if line.strip())


def expect_bind(devices, by_id, group_of, found):
    """Bind the e1000e+NVMe group, restore it, crash mid-bind and recover."""
    problems = []
    before = drivers_of(found.get("drivers-before", ""))
    endpoints = [a for a, d in before.items() if d in ("e1000e", "nvme")]
    if len(endpoints) != 2:
        return [f"expected an e1000e and an NVMe bound before, found {before}"]
    bind = json.loads(found.get("bind", "{}"))
    if found.get("modules-before", "").strip() != "0":
        problems.append(f"vfio_pci was loaded before bind: {found.get('modules-before')!r}")
    if "modprobe vfio_pci" not in bind.get("modules", []):
        problems.append(f"bind did not load vfio_pci itself: modules {bind.get('modules')}")
    if not bind.get("vfioDevice") or bind.get("viable") is not True:
        problems.append(f"bind: /dev/vfio/N {bind.get('vfioDevice')}, viable {bind.get('viable')}")
    bound = drivers_of(found.get("drivers-bound", ""))
    if any(bound.get(a) != "vfio-pci" for a in endpoints):
        problems.append(f"after bind: {[(a, bound.get(a)) for a in endpoints]}")
    for stage in ("drivers-restored", "drivers-recovered"):
        now = drivers_of(found.get(stage, ""))
        if any(now.get(a) != before[a] for a in endpoints):
            problems.append(f"{stage}: {[(a, now.get(a)) for a in endpoints]}, expected {[(a, before[a]) for a in endpoints]}")
    if found.get("_status_crash") != "137":
        problems.append(f"the crashing bind exited {found.get('_status_crash')}, expected 137 (SIGKILL)")
    crashed = drivers_of(found.get("drivers-crashed", ""))
    if all(crashed.get(a) == before[a] for a in endpoints):
        problems.append("the crash left nothing half-done, so recover was not exercised")
    if "action bind group" not in found.get("journal", ""):
        problems.append(f"no journal after the crash: {found.get('journal', '')!r}")
    if found.get("_status_refused") in (None, "0") or "vfioctl recover" not in found.get("refused", ""):
        problems.append(f"a bind while the journal waited was not refused: {found.get('refused', '')!r}")
    if "leftover" in found:
        problems.append("recover left the journal behind")
    return problems


def expect_sriov_set(devices, by_id, group_of, found):
    problems = []
    for count in (2, 4, 0):
        result = json.loads(found.get(f"sriov-{count}", "{}"))
        if result.get("numVFs") != count or len(result.get("vfs", [])) != count:
            problems.append(f"after set {count}: numVFs {result.get('numVFs')}, VFs {result.get('vfs')}")
    if found.get("_status_refused") in (None, "0") or "bound to vfio-pci" not in found.get("refused", ""):
        problems.append(f"removing a vfio-bound VF was not refused: {found.get('refused', '').strip()}")
    return problems


def expect_igb(devices, by_id, group_of, found):
    problems = []
    idt = [line.split("] ", 1)[1].split(":")[0] for line in found.get("idt", "").splitlines() if line.startswith("[")]
    if found.get("_status_idt") != "0" or idt != ["rmmod igb", "modprobe igb max_vfs=1", "rmmod igbvf", "rmmod igb", "modprobe igb max_vfs=7"]:
        problems.append(f"idt-workaround: exit {found.get('_status_idt')}, steps {idt}: {found.get('idt', '')}")
    if "at most 7" not in found.get("idt", ""):
        problems.append("max_vfs=8 was not clamped with its reason")
    if found.get("_status_plain") != "0" or "modprobe igb max_vfs=3: ok" not in found.get("plain", ""):
        problems.append(f"plain: {found.get('plain', '')}")
    if found.get("max-vfs", "").strip() not in ("3", ""):
        problems.append(f"igb max_vfs parameter after plain reload: {found.get('max-vfs')}")
    if found.get("igb-loaded", "").strip() != "1":
        problems.append("igb is not loaded at the end")
    return problems


def expect_aer_watch(devices, by_id, group_of, found):
    """vfio-aerd journaled the kernel's own recovery uevents for the vfio-bound NIC, took
    its owner down and started it again, explained the port's counter, and exited cleanly."""
    problems = []
    if found.get("_status_bind") != "0" or "vfio-pci" not in found.get("drivers-bound", ""):
        problems.append(f"bind: exit {found.get('_status_bind')}")
    entries = json.loads(found.get("aer-log", "[]") or "[]")
    uevents = [(e["device"], e["kind"]) for e in entries if e["source"] == "uevent"]
    nic = next((d for d, _ in uevents), None)
    if not nic or [k for d, k in uevents if d == nic] != ["begin-recovery", "successful-recovery"]:
        problems.append(f"kernel uevents journaled: {uevents}")
    actions = [(d["action"], d["domain"]) for e in entries for d in e["decisions"]]
    for wanted in [("destroy", "test"), ("restart-scheduled", "test"), ("start", "test")]:
        if wanted not in actions:
            problems.append(f"decision {wanted} missing: {actions}")
    counters = [e for e in entries if e["source"] == "counter"]
    if not counters or any(d["action"] != "explained" for e in counters for d in e["decisions"]):
        problems.append(f"port counter not journaled as explained: {counters}")
    if not all(e["handled"] for e in entries):
        problems.append("unhandled events left in the journal")
    if found.get("_status_aerd") != "0":
        problems.append(f"vfio-aerd exit {found.get('_status_aerd')}: {found.get('aerd-log', '').strip()}")
    return problems


EXPECTATIONS = {
    "switch-no-acs": expect_switch,
    "root-ports": expect_root_ports,
    "pci-bridge": expect_bridge,
    "multifunction": expect_multifunction,
    "rciep-quirk": expect_rciep,
    "nvme-sriov": expect_sriov,
    "aer-inject": expect_aer,
    "dma-check": expect_dma,
    "bind-group": expect_bind,
    "sriov-set": expect_sriov_set,
    "igb-reload": expect_igb,
    "aer-watch": expect_aer_watch,
}


def main():
    out, names = sys.argv[1], sys.argv[2:]
    passed = failed = 0
    for name in names:
        try:
            with open(f"{out}/{name}.console", errors="replace") as handle:
                text = handle.read()
        except OSError as error:
            text, result = "", f"no console log ({error})"
        else:
            try:
                result = check(name, text)
            except (KeyError, ValueError) as error:
                result = f"malformed guest output: {error!r}"
        if isinstance(result, tuple):
            passed += 1
            print(f"VMLAB {name} PASS {result[1]}")
        else:
            failed += 1
            print(f"VMLAB {name} FAIL {result}")
            print(f"--- console of {name} (last 60 lines) ---")
            print("\n".join(text.splitlines()[-60:]))
            try:
                with open(f"{out}/{name}.qemu", errors="replace") as handle:
                    qemu = handle.read().strip()
                if qemu:
                    print(f"--- qemu of {name} ---\n{qemu}")
            except OSError:
                pass
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
