#!/usr/bin/env python3
"""Independent errno table for hwkeys (Tests/HWKeysBaseTests/Fixtures/errno/).

`HWKeysBase.Errno` names each errno hwkeys reports: case name = the errno name, raw value = the Linux x86-64
number, `strerror` = the C library's message. This script writes what the host's Python and C library say
about every errno they know, so the Swift table is checked against something it was not copied from:

- numbers and names from Python's `errno` module (`errno.errorcode` and the `E…` constants, which carry the
  aliases `errorcode` leaves out: `ENOTSUP` beside `EOPNOTSUPP`, `EWOULDBLOCK` beside `EAGAIN`, …),
- messages from `os.strerror`, which calls the C library's `strerror`.

Run on Linux x86-64 with glibc (the messages are glibc's; musl and other architectures differ):

    python3 Scripts/gen_errno_table.py > Tests/HWKeysBaseTests/Fixtures/errno/linux-x86_64.json
"""
import errno
import json
import os
import platform
import sys


def main():
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        sys.exit(f"run on Linux x86-64 (this is {platform.system()} {platform.machine()})")
    libc, version = platform.libc_ver()
    if libc != "glibc":
        sys.exit(f"the messages must be glibc's (this is {libc or 'an unknown C library'})")

    names = {}
    for name in dir(errno):
        value = getattr(errno, name)
        if name.startswith("E") and isinstance(value, int):
            names.setdefault(value, []).append(name)
    assert set(names) == set(errno.errorcode), "errno constants and errno.errorcode disagree"

    entries = [
        {
            "number": number,
            "errorcode": errno.errorcode[number],
            "names": sorted(names[number]),
            "strerror": os.strerror(number),
        }
        for number in sorted(errno.errorcode)
    ]
    table = {
        "platform": f"{platform.system()} {platform.machine()}",
        "libc": f"{libc} {version}",
        "python": platform.python_version(),
        "errnos": entries,
    }
    # One errno per line, so a diff of the table reads like a diff of the C library.
    head = json.dumps({key: table[key] for key in ("platform", "libc", "python")}, ensure_ascii=False)
    rows = ",\n".join("  " + json.dumps(entry, ensure_ascii=False) for entry in entries)
    sys.stdout.write(head[:-1] + ', "errnos": [\n' + rows + "\n]}\n")


if __name__ == "__main__":
    main()
