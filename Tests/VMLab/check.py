#!/usr/bin/env python3
"""Checks each lab run's console output (one run = one scenario on one kernel): vfioctl's
reading of the kernel's IOMMU groups and its predicted groups must both equal
/sys/kernel/iommu_groups as the guest listed it; its reset methods and vfio-dev nodes must
equal the kernel's; the guest must have booted the kernel the run names; and each scenario's
own expectations must hold. Prints `VMLAB <scenario>@<kernel> PASS|FAIL|SKIP <details>` per
run and a closing `vmlab: N passed, M failed, K skipped`.

Usage: check.py RESULTS_DIR RUN...   (RUN is scenario@kernel; RESULTS_DIR holds RUN.console,
RUN.skip, RUN.qemu and RUN.seconds as vmlab.sh writes them)"""
import json
import re
import sys

TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def sections(text):
    """The VMLAB-BEGIN/END blocks and VMLAB-STATUS lines of a console log."""
    found, status, current, lines = {}, {}, None, []
    for line in text.splitlines():
        # The serial console is a terminal, so vfioctl's progress lines (carriage return, erase
        # to end of line) share a line with what follows them: strip those controls first.
        line = TERMINAL_CONTROL.sub("", line.rstrip("\r")).split("\r")[-1]
        if line.startswith("VMLAB-BEGIN "):
            current, lines = line.split(" ", 1)[1], []
        elif line.startswith("VMLAB-END ") and current:
            found[current] = "\n".join(lines)
            current = None
        elif current is not None:
            lines.append(line)
        elif line.startswith("VMLAB-KERNEL "):
            found["_kernel"] = line.split(" ", 1)[1]
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


def check(name, label, text, after=None, diff=None):
    found, status = sections(text)
    found["_after_console"] = after
    found["_diff"] = diff
    if "VMLAB-DONE" not in text:
        return "guest did not finish (no VMLAB-DONE)"
    if not found.get("_kernel", "").startswith(label + "."):
        return f"the guest booted Linux {found.get('_kernel')}, not {label}"
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
    # 3. vfioctl reads the kernel's reset methods and VFIO device nodes.
    problems += check_sysfs_readings(report, found.get("kernel-resets", ""), found.get("vfio-devs", ""))
    problems += check_types_and_services(report, found.get("group-types", ""), found.get("port-services", ""))
    # 4. The topology is what the scenario builds.
    devices = {d["address"]: d for d in report["devices"]}
    by_id = lambda ids: sorted(a for a, d in devices.items() if f"{d['vendorId']}:{d['deviceId']}" == ids)
    group_of = {a: gid for gid, members in kernel.items() for a in members}
    if name in SNAPSHOT_SCENARIOS and not found.get("snapshot", "").strip():
        problems.append(f"no snapshot of the guest: {found.get('snapshot-error', '').strip()[:300]}")
    expectation = EXPECTATIONS.get(name)
    if expectation:
        problems += expectation(devices, by_id, group_of, found)
    if problems:
        return "; ".join(problems)
    return None, f"{len(devices)} functions, {len(kernel)} groups: {describe(kernel_sets)}"


def check_sysfs_readings(report, kernel_resets, kernel_vfio_devs):
    """Every function's reset methods as `reset_method` lists them, and its vfio-dev node."""
    problems = []
    resets = {line.split()[0]: line.split()[1:] for line in kernel_resets.splitlines() if line.strip()}
    nodes = dict(line.split() for line in kernel_vfio_devs.splitlines() if line.strip())
    for device in report["devices"]:
        address, reset = device["address"], device.get("reset") or {}
        if address in resets and (reset.get("methods") != resets[address] or reset.get("source") != "reset_method"):
            problems.append(f"{address}: kernel reset_method {resets[address]}, vfioctl {reset}")
        if device.get("vfioDevice") != nodes.get(address):
            problems.append(f"{address}: kernel vfio-dev {nodes.get(address)}, vfioctl {device.get('vfioDevice')}")
    return problems


def check_types_and_services(report, kernel_types, kernel_services):
    """Each group's type as `kernel/iommu_groups/N/type` says, each port's services as its
    `ADDR:pcieNNN/driver` children say, and no DPC (QEMU's ports have none)."""
    problems = []
    types = dict(line.split(None, 1) for line in kernel_types.splitlines() if line.strip())
    for group in report.get("groups") or []:
        if types.get(str(group["id"])) != group.get("type"):
            problems.append(f"group {group['id']}: kernel type {types.get(str(group['id']))}, vfioctl {group.get('type')}")
    services = {}
    for line in kernel_services.splitlines():
        if line.strip():
            address, driver = line.split()
            # A service child without a driver still makes the port's list known (and empty).
            services.setdefault(address, [])
            if driver != "-":
                services[address].append(driver)
    for device in report["devices"]:
        expected = sorted(services[device["address"]]) if device["address"] in services else None
        if device.get("portServices") != expected:
            problems.append(f"{device['address']}: kernel port services {expected}, vfioctl {device.get('portServices')}")
        if device.get("dpc") is not None:
            problems.append(f"{device['address']}: vfioctl decodes DPC, which QEMU does not model")
    ports = [d["address"] for d in report["devices"] if d.get("pcieType") in ("root-port", "upstream-port", "downstream-port")]
    if ports and not services:
        problems.append(f"the guest listed no port services for its ports {ports}: is pcieport bound?")
    return problems


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
    bound_nodes = found.get("vfio-devs-bound", "")
    if found.get("_kernel", "").startswith("6.12") and len(bound_nodes.split()) < 4:
        problems.append(f"Linux 6.12 shows no vfio-dev/vfioN for the bound functions: {bound_nodes!r}")
    bound_report = json.loads(found.get("inspect-bound", "{}") or "{}") or {"devices": []}
    problems += check_sysfs_readings(bound_report, "", bound_nodes)
    # VFIO ownership is the kernel's vfio-dev node (and vfio-pci by name before 6.1).
    owners = {d["address"]: d.get("vfioOwner") for d in bound_report["devices"]}
    if any(owners.get(a) != "vfio-pci" for a in endpoints):
        problems.append(f"while bound, vfioctl names the VFIO owners {[(a, owners.get(a)) for a in endpoints]}")
    return problems


def expect_reset_method(devices, by_id, group_of, found):
    """Blast radius of a stale bus-only listing; set, dry-run, default and EINVAL on reset_method."""
    problems = []
    nvme, testdev = (found.get("addresses", "").split() + ["", ""])[:2]
    sibling = testdev[:-1] + "1"
    resets = {line.split()[0]: line.split()[1:] for line in found.get("resets-before", "").splitlines() if line.strip()}
    if resets.get(testdev) != ["bus"] or sibling in resets or resets.get(nvme) != ["flr", "bus"]:
        return [f"the kernel's lists are not the ones this scenario is about: {resets}"]
    report = json.loads(found.get("inspect-testdev", "{}") or "{}")
    reset = next((d.get("reset") or {} for d in report.get("devices", []) if d["address"] == testdev), {})
    if reset.get("busResetAlsoResets") != [sibling] or reset.get("busListingStale") is not True:
        problems.append(f"{testdev}: a bus reset also resets {sibling}, vfioctl says {reset}")
    expected = {"set": "0", "dry-run": "0", "default": "0"}
    for step, status in expected.items():
        if found.get(f"_status_{step}") != status:
            problems.append(f"reset-method {step} exited {found.get(f'_status_{step}')}: {found.get('set-stderr', '')[:200]}")
    for section, value in (("nvme-after-set", "flr"), ("nvme-after-dry-run", "flr"), ("nvme-after-default", "flr bus")):
        if found.get(section, "").strip() != value:
            problems.append(f"{section}: reset_method reads {found.get(section, '').strip()!r}, expected {value!r}")
    inspected = json.loads(found.get("inspect-nvme-set", "{}") or "{}")
    methods = next(((d.get("reset") or {}).get("methods") for d in inspected.get("devices", []) if d["address"] == nvme), None)
    if methods != ["flr"]:
        problems.append(f"inspect after set shows {methods}, expected ['flr']")
    if found.get("_status_stale") in (None, "0") or "EINVAL" not in found.get("stale", "") and "refused" not in found.get("stale", ""):
        problems.append(f"writing the stale bus method was not reported as the kernel's refusal: {found.get('stale', '')[:300]!r}")
    if found.get("testdev-after-stale", "").strip() != "bus":
        problems.append(f"the refused write changed reset_method to {found.get('testdev-after-stale', '').strip()!r}")
    if "leftover" in found:
        problems.append("a reset-method journal was left behind")
    return problems


def expect_sriov_set(devices, by_id, group_of, found):
    problems = []
    for count in (2, 4, 0):
        result = json.loads(found.get(f"sriov-{count}", "{}"))
        if result.get("numVFs") != count or len(result.get("vfs", [])) != count:
            problems.append(f"after set {count}: numVFs {result.get('numVFs')}, VFs {result.get('vfs')}")
    if found.get("_status_refused") in (None, "0") or "VFIO-owned by vfio-pci" not in found.get("refused", ""):
        problems.append(f"removing a vfio-bound VF was not refused: {found.get('refused', '').strip()}")
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


# Scenarios whose guest writes a snapshot (Tests/Fixtures/snapshots/lab-*.tar.gz come from them).
SNAPSHOT_SCENARIOS = {"amd-vi", "igb-sriov"}
SEED_PFS = ["0000:03:00.0", "0000:03:00.1", "0000:04:00.0", "0000:04:00.1"]
IDT_QUIRK = "intel-82576-idt-pes12n3a-x58-max-vfs-aer-hang"
IDT_STEPS = ["rmmod igb", "modprobe igb max_vfs=1", "rmmod igbvf", "rmmod igb", "modprobe igb max_vfs=7"]


def expect_seed_host(devices, by_id, group_of, found):
    """The seed's topology: ioh3420 at 00:03.0, x3130 switch, two dual-function 82576 on igb,
    all in one group; the seed's quirks (the lab's IDT stand-in among them) on every PF."""
    problems = []
    if by_id("8086:3420") != ["0000:00:03.0"]:
        problems.append(f"expected the ioh3420 root port at 0000:00:03.0, found {by_id('8086:3420')}")
    if len(by_id("104c:8232")) != 1 or len(by_id("104c:8233")) != 2:
        problems.append(f"expected an x3130 upstream and two downstream ports, found {by_id('104c:8232')} {by_id('104c:8233')}")
    pfs = by_id("8086:10c9")
    if pfs != SEED_PFS:
        problems.append(f"expected 82576 PFs {SEED_PFS} (function 1 needs x-pcie-ari-nextfn-1), found {pfs}")
    members = by_id("8086:3420") + by_id("104c:8232") + by_id("104c:8233") + pfs
    if not same_group(members, group_of):
        problems.append(f"{members} are not in one group")
    for pf in pfs:
        device = devices[pf]
        quirks = {q["id"] for q in device["quirks"]}
        if device["driver"] != "igb" or not device["multifunction"] or not device["sriov"]:
            problems.append(f"{pf}: driver {device['driver']}, multifunction {device['multifunction']}, sriov {device['sriov']}")
        if not {IDT_QUIRK, "intel-82576-dual-pf-windows-2008"} <= quirks:
            problems.append(f"{pf}: seed quirks not matched (matched {sorted(quirks)})")
    totals = {line.split()[0]: line.split()[-1] for line in found.get("totalvfs", "").splitlines() if line.strip()}
    if sorted(totals) != SEED_PFS or set(totals.values()) != {"7"}:
        problems.append(f"igb should limit sriov_totalvfs to 7 on every PF: {totals}")
    return problems


def vfs_of(status):
    return [vf["address"] for vf in status.get("vfs", [])]


def expect_igb_sriov(devices, by_id, group_of, found):
    """igb-reload chose the IDT workaround through the quirk, clamped 8 to 7 with its reason,
    and listed the VFs the real driver made, each with the kernel's group; sriov set and
    apply reach the same state."""
    problems = []
    dry = found.get("dry", "")
    if found.get("_status_dry") != "0" or IDT_QUIRK not in dry or "at most 7" not in dry:
        problems.append(f"dry run: exit {found.get('_status_dry')}: {dry.strip()[:300]}")
    auto = json.loads(found.get("auto", "{}") or "{}")
    steps = [s["step"] for s in auto.get("steps", [])]
    if found.get("_status_auto") != "0" or auto.get("sequence") != "idt-workaround" or IDT_QUIRK not in auto.get("why", ""):
        problems.append(f"auto: exit {found.get('_status_auto')}, sequence {auto.get('sequence')}, why {auto.get('why')}: {found.get('auto-stderr', '').strip()[:300]}")
    outcomes = [s["outcome"] for s in auto.get("steps", [])]
    if steps != IDT_STEPS or outcomes != ["ok"] * len(IDT_STEPS):
        problems.append(f"auto steps (igbvf loaded, so every step runs): {auto.get('steps')}")
    if auto.get("requestedVFs") != 8 or auto.get("maxVFs") != 7 or "one pool stays with the PF" not in (auto.get("clamp") or ""):
        problems.append(f"clamp: requested {auto.get('requestedVFs')}, used {auto.get('maxVFs')}, note {auto.get('clamp')}")
    kernel_vfs = {}
    for line in found.get("kernel-vfs", "").splitlines():
        pf, vf, ids = line.split()
        kernel_vfs.setdefault(pf, []).append(vf)
        if ids != "0x8086:0x10ca":
            problems.append(f"VF {vf} of {pf} is {ids}, not 8086:10ca")
    pfs = {p["pf"]: p for p in auto.get("pfs", [])}
    if sorted(pfs) != SEED_PFS:
        problems.append(f"igb-reload listed PFs {sorted(pfs)}")
    for pf in SEED_PFS:
        listed = vfs_of(pfs.get(pf, {}))
        if len(kernel_vfs.get(pf, [])) != 7 or sorted(listed) != sorted(kernel_vfs.get(pf, [])):
            problems.append(f"{pf}: kernel VFs {kernel_vfs.get(pf)}, igb-reload listed {listed}")
        for vf in pfs.get(pf, {}).get("vfs", []):
            if vf["iommuGroup"] is None or vf["iommuGroup"] != group_of.get(pf):
                problems.append(f"VF {vf['address']}: group {vf['iommuGroup']}, its PF's is {group_of.get(pf)}")
    for pf in SEED_PFS:
        for count in (0, 7):
            status = json.loads(found.get(f"set-{count}-{pf}", "{}") or "{}")
            expected = [] if count == 0 else sorted(kernel_vfs.get(pf, []))
            if found.get(f"_status_set{count}-{pf}") != "0" or status.get("numVFs") != count or sorted(vfs_of(status)) != expected:
                problems.append(f"sriov set {pf} {count}: exit {found.get(f'_status_set{count}-{pf}')}, numVFs {status.get('numVFs')}, VFs {vfs_of(status)}")
    applied = json.loads(found.get("status-applied", "{}") or "{}")
    if sorted(vfs_of(applied)) != sorted(kernel_vfs.get("0000:04:00.0", [])):
        problems.append(f"apply made VFs {vfs_of(applied)}, igb-reload had made {kernel_vfs.get('0000:04:00.0')}")
    first, second = found.get("apply-1", ""), found.get("apply-2", "")
    if found.get("_status_apply1") != "0" or "0 → 7" not in first:
        problems.append(f"apply from 0: exit {found.get('_status_apply1')}: {first.strip()}")
    if found.get("_status_apply2") != "0" or "unchanged" not in second:
        problems.append(f"apply again: exit {found.get('_status_apply2')}: {second.strip()}")
    plain = json.loads(found.get("plain", "{}") or "{}")
    if plain.get("sequence") != "plain" or any(len(vfs_of(p)) != 3 for p in plain.get("pfs", [])) or len(plain.get("pfs", [])) != 4:
        problems.append(f"plain to 3: {[(p['pf'], p['numVFs']) for p in plain.get('pfs', [])]}")
    return problems


def guest_ids(log, when):
    """{"A": "1", …} from vfio-aerd's `watching …; running guests: A (id 1), …` or `stopping; …`."""
    for line in log.splitlines():
        if when in line and "running guests:" in line:
            return dict(re.findall(r"(\w+) \(id (\d+)\)", line.split("running guests:", 1)[1]))
    return {}


def expect_vf_aer(devices, by_id, group_of, found):
    """Per phase: the uevents journaled on PFs and VFs, the owners below the failing port
    destroyed and started again (or, when the kernel's recovery failed, left down with
    stay-down), everybody else left alone with the same domain id."""
    problems = []
    owners = dict(line.split() for line in found.get("owners", "").splitlines() if line.strip())
    if sorted(owners) != ["A", "B", "C"]:
        return [f"owners not set up: {owners}"]
    for step in ("vfs-a", "vfs-b", "vfs-driverless", "watching-rp", "watching-dn", "watching-failed"):
        if found.get(f"_status_{step}") != "0":
            problems.append(f"step {step} exited {found.get(f'_status_{step}')}")
    bound = drivers_of(found.get("drivers-bound", ""))
    if any(bound.get(owners[g]) != "vfio-pci" for g in owners):
        problems.append(f"owned functions not on vfio-pci: {[(owners[g], bound.get(owners[g])) for g in owners]}")
    for phase, port, below, recovers in (("rp", "rp3", {"A", "B"}, True), ("dn", "dn1", {"A"}, True), ("failed", "dn2", {"B"}, False)):
        entries = json.loads(found.get(f"aer-log-{phase}", "[]") or "[]")
        uevent_devices = {e["device"] for e in entries if e["source"] == "uevent"}
        pfs = {"A": "0000:03:00.0", "B": "0000:04:00.0"}
        for guest in sorted(below):
            if owners[guest] not in uevent_devices or pfs[guest] not in uevent_devices:
                problems.append(f"{phase}: no recovery uevents journaled for VF {owners[guest]} and PF {pfs[guest]}: {sorted(uevent_devices)}")
        for guest in {"A", "B"} - below:
            if any(d[:8] == pfs[guest][:8] for d in uevent_devices):
                problems.append(f"{phase}: uevents on {pfs[guest][:7]} after an error at {port}: {sorted(uevent_devices)}")
        kinds = {e["kind"] for e in entries if e["source"] == "uevent"}
        final = "successful-recovery" if recovers else "failed-recovery"
        if final not in kinds:
            problems.append(f"{phase}: the kernel's {final} not journaled (saw {sorted(kinds)})")
        actions = {(d["action"], d["domain"]) for e in entries for d in e["decisions"] if d.get("domain")}
        taken_down = {domain for action, domain in actions if action in ("destroy", "shutdown")}
        started = {domain for action, domain in actions if action == "start"}
        stayed = {domain for action, domain in actions if action == "stay-down"}
        expected_started, expected_stayed = (below, set()) if recovers else (set(), below)
        if taken_down != below or started != expected_started or stayed != expected_stayed:
            problems.append(
                f"{phase} (error at {port}): took down {sorted(taken_down)}, started {sorted(started)}, left down {sorted(stayed)}; "
                f"expected {sorted(below)} down, {sorted(expected_started)} started, {sorted(expected_stayed)} left down")
        log = found.get(f"aerd-log-{phase}", "")
        before, after = guest_ids(log, "watching"), guest_ids(log, "stopping")
        if sorted(before) != ["A", "B", "C"]:
            problems.append(f"{phase}: guest ids not logged at start: {before}")
        else:
            expected_after = ["A", "B", "C"] if recovers else sorted({"A", "B", "C"} - below)
            if sorted(after) != expected_after:
                problems.append(f"{phase}: running after: {after}, expected {expected_after}")
            for guest in after:
                if (before[guest] != after[guest]) != (guest in below):
                    problems.append(f"{phase}: guest {guest} id {before[guest]} → {after[guest]}")
        if found.get(f"_status_aerd-{phase}") != "0":
            problems.append(f"{phase}: vfio-aerd exit {found.get(f'_status_aerd-{phase}')}: {log.strip()[-300:]}")
        if not all(e["handled"] for e in entries):
            problems.append(f"{phase}: unhandled events left in the journal")
    return problems


def expect_amd_vi(devices, by_id, group_of, found):
    """Groups under AMD-Vi as for the root-ports and switch topologies; the IOMMU's own
    function in no group and not predicted; the unit reported from sysfs."""
    problems = []
    nics = by_id("8086:10d3")
    root_port_nics = [n for n in nics if devices[n]["parent"] and devices[devices[n]["parent"]]["vendorId"] == "1b36"]
    if len(root_port_nics) != 2 or same_group(root_port_nics, group_of):
        problems.append(f"the e1000e behind generic root ports should be isolated: {[(n, group_of.get(n)) for n in root_port_nics]}")
    switch = by_id("8086:3420") + by_id("104c:8232") + by_id("104c:8233") + by_id("1b36:0010") + [n for n in nics if n not in root_port_nics]
    if len(switch) != 6 or not same_group(switch, group_of):
        problems.append(f"switch topology {switch} is not one group")
    iommu_functions = [a for a, d in devices.items() if d["classCode"].startswith("0806")]
    if len(iommu_functions) != 1:
        problems.append(f"expected one IOMMU function (class 0806), found {iommu_functions}")
    for address in iommu_functions:
        device = devices[address]
        if address in group_of or device["iommuGroup"] is not None or device["predictedGroup"] is not None:
            problems.append(f"IOMMU function {address}: kernel group {group_of.get(address)}, vfioctl {device['iommuGroup']}/{device['predictedGroup']}")
        if device["verdict"] != "blocked" or "iommu-unit" not in [r["code"] for r in device["reasons"]]:
            problems.append(f"IOMMU function {address}: verdict {device['verdict']}, reasons {[r['code'] for r in device['reasons']]}")
    sysfs = {}
    for line in found.get("iommu-sysfs", "").splitlines():
        name, cap, features = line.split()
        sysfs[name] = (cap.split("=", 1)[1], features.split("=", 1)[1])
    units = json.loads(found.get("iommu", "{}") or "{}").get("units", [])
    if found.get("_status_iommu") != "0" or [u["name"] for u in units] != sorted(sysfs) or not sysfs:
        problems.append(f"vfioctl iommu units {[u.get('name') for u in units]}, sysfs {sorted(sysfs)}")
    # The kernel's own decoding: "AMD-Vi: Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE".
    logged = re.search(r"Extended features \((0x[0-9a-f]+), (0x[0-9a-f]+)\):([A-Za-z0-9 ]*)", found.get("amd-vi-dmesg", ""))
    if not logged:
        problems.append(f"the kernel logged no AMD-Vi extended features: {found.get('amd-vi-dmesg', '').strip()[:300]}")
    for unit in units:
        cap, features = sysfs.get(unit["name"], ("", ""))
        if unit["kind"] != "amd" or unit["capability"].lstrip("0") != cap.lstrip("0"):
            problems.append(f"{unit['name']}: kind {unit['kind']}, cap {unit['capability']} vs sysfs {cap}")
        if logged:
            efr, names = int(logged.group(1), 16), logged.group(3).split()
            if int(unit.get("extendedCapability") or "0", 16) != efr or unit.get("features") != names:
                problems.append(f"{unit['name']}: vfioctl EFR {unit.get('extendedCapability')} {unit.get('features')} (sysfs {features}), kernel logged {logged.group(0)}")
        if not unit.get("hostPageTableLevels") or not {"2M", "1G"} <= set(unit.get("pageSizes") or []):
            problems.append(f"{unit['name']}: levels {unit.get('hostPageTableLevels')}, page sizes {unit.get('pageSizes')}")
        if len(unit.get("notRead", [])) < 2 or not unit.get("largePages", {}).get("available"):
            problems.append(f"{unit['name']}: notRead {unit.get('notRead')}, largePages {unit.get('largePages')}")
        if sorted(unit["devices"]) != sorted(group_of):
            problems.append(f"{unit['name']} translates for {sorted(unit['devices'])}, the kernel grouped {sorted(group_of)}")
    if "not read:" not in found.get("iommu-text", ""):
        problems.append("vfioctl iommu (text) does not say what it could not read")
    return problems


CONFIG_ACS = "pci=config_acs=xx111x1@0000:00:01.0;xx111x1@0000:00:02.0"


def expect_config_acs(devices, by_id, group_of, found):
    """First boot: RR and CR off on both root ports, so each shares a group with what is below
    it. vfioctl's what-if must print exactly CONFIG_ACS (both ports, nothing else), advise the
    second port alone for the NVMe below the switch, and refuse a switch port without ACS.
    (disable_acs_redir= clears RR CR EC on 6.1; on 6.12 it leaves every bit at firmware's
    value, 0 in QEMU, so the what-if enables at least RR and CR.) On a kernel
    with config_acs= (>= 6.11) the second boot, with that parameter, must form exactly the
    groups vfioctl predicted in the first."""
    problems = []
    if found.get("_status_whatif") != "0":
        return [f"what-if exited {found.get('_status_whatif')}: {found.get('whatif-stderr', '').strip()[:300]}"]
    whatif = json.loads(found["whatif"])
    making = [m for m in whatif["makesReal"] if m["kind"] == "config-acs"]
    if [m["parameter"] for m in making] != [CONFIG_ACS]:
        problems.append(f"what-if printed {[m['parameter'] for m in making]}, expected {CONFIG_ACS}")
    for assumption in whatif["assumptions"]["acs"]:
        if not {"RR", "CR"} <= set(assumption["enabling"]):
            problems.append(f"{assumption['port']}: what-if enables {assumption['enabling']}, expected RR CR among them "
                            f"(disable_acs_redir cleared those; control {assumption['controlBefore']})")
    kernel_before = {frozenset(members) for members in groups_from_listing(found["kernel-groups"]).values()}
    if {frozenset(g) for g in whatif["groups"]["before"]} != kernel_before:
        problems.append("what-if's groups before are not the kernel's")
    predicted_after = {frozenset(g) for g in whatif["groups"]["after"]}
    if predicted_after == kernel_before:
        problems.append("what-if predicts no change: disable_acs_redir did not take effect?")
    nvme = by_id("1b36:0010")[:1]
    if found.get("_status_advise") != "0":
        problems.append(f"advise exited {found.get('_status_advise')}: {found.get('advise-stderr', '').strip()[:200]}")
    else:
        advice = json.loads(found["advise"])
        first = advice["options"][0] if advice["options"] else {}
        if first.get("kind") != "config-acs" or first.get("parameter") != "pci=config_acs=xx111x1@0000:00:02.0":
            problems.append(f"advise for {nvme}: first option {first.get('kind')} {first.get('parameter')}")
        elif not first.get("isolates"):
            problems.append(f"advise for {nvme}: config-acs on 00:02.0 does not isolate it: {first.get('groupAfter')}")
    if found.get("_status_refuse") != "1" or "no ACS capability" not in found.get("refuse", ""):
        problems.append(f"--assume-acs on a switch port without ACS: status {found.get('_status_refuse')}")
    note = making[0].get("kernelNote") if making else None
    if found["_kernel"].startswith("6.1."):
        if not note or "6.11" not in note:
            problems.append(f"on Linux 6.1 the what-if must say config_acs needs 6.11: {note}")
        return problems
    after_text = found.get("_after_console")
    if not after_text or "VMLAB-DONE" not in after_text:
        return problems + ["the second boot with the parameter did not finish"]
    after, after_status = sections(after_text)
    if after_status.get("inspect") != "0":
        return problems + [f"second boot: vfioctl inspect exited {after_status.get('inspect')}"]
    kernel_after = {frozenset(members) for members in groups_from_listing(after["kernel-groups"]).values()}
    if kernel_after != predicted_after:
        problems.append(f"kernel after the parameter: {describe(kernel_after)}; vfioctl predicted "
                        f"{describe(predicted_after)}")
    report = json.loads(after["inspect"])
    for device in report["devices"]:
        if device["address"] in ("0000:00:01.0", "0000:00:02.0"):
            control = int(device["acs"]["control"], 16)
            if control & 0x1d != 0x1d:
                problems.append(f"second boot: {device['address']} ACS control {control:#06x} lacks SV RR CR UF")
    if report["groupDisagreements"]:
        problems.append("second boot: vfioctl's prediction disagrees with the kernel")
    problems += check_config_acs_diff(found.get("_diff"), kernel_before, kernel_after)
    return problems


def check_config_acs_diff(diff, kernel_before, kernel_after):
    """`vfioctl diff` of the two boots' snapshots (run by vmlab.sh): exit 1, and exactly the
    groups that split, each for the ACS control word of its root port."""
    if not diff:
        return ["no `vfioctl diff` of the two boots (snapshots missing?)"]
    status, text, error = diff
    if status != "1":
        return [f"vfioctl diff of the two boots exited {status}: {error.strip()[:300]}"]
    result = json.loads(text)
    problems = []
    split = {frozenset(g) for g in kernel_before - kernel_after}
    named = {frozenset(change["before"][0]) for change in result["groupChanges"] if change["kind"] == "split"}
    if named != split or len(result["groupChanges"]) != len(split):
        problems.append(f"diff names {[(c['kind'], c['before']) for c in result['groupChanges']]}, "
                        f"the kernel split {describe(split)}")
    for change in result["groupChanges"]:
        ports = {r.get("address") for r in change["reasons"] if r["code"] == "acs-control"}
        if not ports & {"0000:00:01.0", "0000:00:02.0"}:
            problems.append(f"diff gives no ACS control reason for {change['before']}: {change['reasons']}")
    return problems


EXPECTATIONS = {
    "config-acs": expect_config_acs,
    "switch-no-acs": expect_switch,
    "root-ports": expect_root_ports,
    "pci-bridge": expect_bridge,
    "multifunction": expect_multifunction,
    "rciep-quirk": expect_rciep,
    "nvme-sriov": expect_sriov,
    "aer-inject": expect_aer,
    "dma-check": expect_dma,
    "bind-group": expect_bind,
    "reset-method": expect_reset_method,
    "sriov-set": expect_sriov_set,
    "seed-host": expect_seed_host,
    "igb-sriov": expect_igb_sriov,
    "vf-aer": expect_vf_aer,
    "amd-vi": expect_amd_vi,
    "aer-watch": expect_aer_watch,
}


def read_diff(out, run):
    """(status, stdout, stderr) of the host-side `vfioctl diff` vmlab.sh ran for a run, or None."""
    try:
        with open(f"{out}/{run}.diff.status") as status, open(f"{out}/{run}.diff.json") as text, \
                open(f"{out}/{run}.diff.err") as error:
            return status.read().strip(), text.read(), error.read()
    except OSError:
        return None


def main():
    out, runs = sys.argv[1], sys.argv[2:]
    passed = failed = skipped = 0
    for run in runs:
        name = run.split("@", 1)[0]
        try:
            with open(f"{out}/{run}.skip") as handle:
                skipped += 1
                print(f"VMLAB {run} SKIP {handle.read().strip()}")
                continue
        except OSError:
            pass
        try:
            with open(f"{out}/{run}.console", errors="replace") as handle:
                text = handle.read()
        except OSError as error:
            text, result = "", f"no console log ({error})"
        else:
            try:
                with open(f"{out}/{run}.after.console", errors="replace") as handle:
                    after = handle.read()
            except OSError:
                after = None
            try:
                result = check(name, run.split("@", 1)[1] if "@" in run else "", text, after, read_diff(out, run))
            except (KeyError, ValueError, TypeError, AttributeError) as error:
                result = f"malformed guest output: {error!r}"
        seconds = ""
        try:
            with open(f"{out}/{run}.seconds") as handle:
                seconds = f" ({handle.read().strip()} s)"
        except OSError:
            pass
        if isinstance(result, tuple):
            passed += 1
            print(f"VMLAB {run} PASS{seconds} {result[1]}")
        else:
            failed += 1
            print(f"VMLAB {run} FAIL{seconds} {result}")
            print(f"--- console of {run} (last 60 lines) ---")
            print("\n".join(text.splitlines()[-60:]))
            try:
                with open(f"{out}/{run}.qemu", errors="replace") as handle:
                    qemu = handle.read().strip()
                if qemu:
                    print(f"--- qemu of {run} ---\n{qemu}")
            except OSError:
                pass
    print(f"vmlab: {passed} passed, {failed} failed, {skipped} skipped")
    if skipped and not passed:
        print("vmlab: every run was skipped: the lab proved nothing (see the SKIP reasons)")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
