#!/usr/bin/env python3
"""Writes the seed corpora of `make fuzz` (Tests/Fuzz/corpus/<target>/) from the real inputs
in this repository: the pciutils lspci dumps (and the config space of each of their
functions), the quirk TOMLs, the libvirt domain XMLs, and kernel AER uevent texts.
Run from the repository root; the output is checked in, so run it when the fixtures change."""

import hashlib
import os
import re
import shutil

ROOT = os.getcwd()
CORPUS = os.path.join(ROOT, "Tests/Fuzz/corpus")
DUMPS = os.path.join(ROOT, "Tests/Fixtures/pciutils")
HEADER = re.compile(r"^(?:[0-9a-fA-F]{4,5}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7] ")
HEX = re.compile(r"^([0-9a-fA-F]{2,8}): ((?:[0-9a-fA-F]{2} ?)*)$")


def fresh(target):
    path = os.path.join(CORPUS, target)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def dumps():
    return sorted(n for n in os.listdir(DUMPS) if n not in ("COPYING", "INDEX.txt"))


def config_spaces(text):
    """Each function's config bytes, as libpci's dump method reads them: 0xff where no hex
    line gives a byte, up to one past the highest offset given."""
    functions = []
    current = None
    for line in text.split("\n"):
        if HEADER.match(line):
            current = [bytearray(b"\xff" * 4096), 0]
            functions.append(current)
        elif not line:
            current = None
        elif current is not None and HEX.match(line):
            offset, data = HEX.match(line).groups()
            offset = int(offset, 16)
            for byte in data.split():
                current[0][offset] = int(byte, 16)
                offset += 1
                current[1] = max(current[1], offset)
    return [bytes(data[:length]) for data, length in functions]


def main():
    target = fresh("config-space")
    seen = set()
    for name in dumps():
        with open(os.path.join(DUMPS, name), encoding="utf-8", errors="replace") as f:
            spaces = config_spaces(f.read())
        for index, blob in enumerate(spaces):
            digest = hashlib.sha1(blob).hexdigest()
            if blob and digest not in seen:
                seen.add(digest)
                with open(os.path.join(target, f"{name}-{index}.bin"), "wb") as out:
                    out.write(blob)

    target = fresh("lspci-dump")
    for name in dumps():
        shutil.copy(os.path.join(DUMPS, name), os.path.join(target, name))

    target = fresh("toml")
    for directory, suffix in (("Quirks", ".toml"), ("Docs", ".toml.example")):
        for name in sorted(os.listdir(os.path.join(ROOT, directory))):
            if name.endswith(suffix):
                shutil.copy(os.path.join(ROOT, directory, name), os.path.join(target, name))

    target = fresh("domain-xml")
    domains = os.path.join(ROOT, "Tests/Fixtures/libvirt-domains")
    for name in sorted(os.listdir(domains)):
        if name.endswith(".xml"):
            shutil.copy(os.path.join(domains, name), os.path.join(target, name))

    # The properties the kernel's PCIe AER recovery sends (drivers/pci/pcie/err.c,
    # pci_uevent_ers) as udev passes them on, and vfio-aerd's counter injections.
    target = fresh("uevent")
    base = ("ACTION=change\nDEVPATH=/devices/pci0000:00/0000:00:03.0/0000:03:00.0\nSUBSYSTEM=pci\n"
            "DRIVER=vfio-pci\nPCI_CLASS=20000\nPCI_ID=8086:10C9\nPCI_SUBSYS_ID=8086:A03C\n"
            "PCI_SLOT_NAME=0000:03:00.0\nMODALIAS=pci:v00008086d000010C9sv00008086sd0000A03Cbc02sc00i00\n"
            "SEQNUM=4711\n")
    events = {
        "begin-recovery": base + "ERROR_EVENT=BEGIN_RECOVERY\n",
        "successful-recovery": base + "ERROR_EVENT=SUCCESSFUL_RECOVERY\nDEVICE_ONLINE=1\n",
        "failed-recovery": base + "ERROR_EVENT=FAILED_RECOVERY\nDEVICE_ONLINE=0\n",
        "devpath-only": "DEVPATH=/devices/pci0000:00/0000:00:1c.0/0000:02:00.1\nERROR_EVENT=BEGIN_RECOVERY\n",
        "no-error-event": base,
        "injected-counter": "PCI_SLOT_NAME=0000:04:00.0\nAER_COUNTER=correctable\nCOUNT=3\n",
        "injected-nul-separated": "PCI_SLOT_NAME=0000:04:00.0\0ERROR_EVENT=FAILED_RECOVERY\0",
    }
    for name, text in events.items():
        with open(os.path.join(target, name + ".txt"), "w", encoding="utf-8") as out:
            out.write(text)


if __name__ == "__main__":
    main()
