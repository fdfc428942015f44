#!/usr/bin/env python3
"""Runs beside one lab VM: follows its serial console and forwards every line
`VMLAB-MONITOR <hmp command>` to QEMU's human monitor socket (for example
`pcie_aer_inject_error rp1 POISON_TLP`), so a guest scenario can ask for things only the
host can do. Exits when the console shows VMLAB-DONE or after the timeout.
Usage: monitor.py CONSOLE_FILE MONITOR_SOCKET TIMEOUT_SECONDS"""
import os
import socket
import sys
import time


def send(socket_path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        connection.settimeout(5)
        connection.recv(4096)  # the banner and first prompt
        connection.sendall(command.encode() + b"\n")
        time.sleep(0.3)
        try:
            return connection.recv(4096).decode(errors="replace")
        except socket.timeout:
            return ""


def main():
    console, socket_path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline = time.time() + timeout
    position = 0
    while time.time() < deadline:
        if os.path.exists(console):
            with open(console, errors="replace") as handle:
                handle.seek(position)
                chunk = handle.read()
                # Only act on complete lines.
                complete = chunk[: chunk.rfind("\n") + 1]
                position += len(complete.encode(errors="replace"))
            for line in complete.splitlines():
                line = line.strip()
                if line.startswith("VMLAB-MONITOR "):
                    answer = send(socket_path, line.split(" ", 1)[1])
                    # Drop the monitor's echo of the typed command (terminal escapes).
                    said = [part for part in answer.replace("\r", "").split("\n") if part and "\x1b" not in part and part != "(qemu)"]
                    print(f"monitor <- {line.split(' ', 1)[1]}: {' / '.join(said)}", flush=True)
                if line == "VMLAB-DONE":
                    return 0
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
