#!/usr/bin/env python3
"""Independent MKTME ciphertext fixtures for hwkeys (Tests/TestSupport/Fixtures/mktme/).

docs/contract.md §2 fixes the memory cipher: AES-XTS (IEEE 1619) with the data unit = one 64-byte line and the
data-unit sequence number = (physical address with the KeyID bits cleared) >> 6, encoded little-endian in
128 bits; XTS key = data key (KEY_FIELD_1) || tweak key (KEY_FIELD_2).

This script computes the DRAM contents that a store through a directly programmed KeyID must leave behind,
with the Python `cryptography` package (OpenSSL's AES-XTS), not with any hwkeys code. Keys and plaintexts
are derived from SHA-256 of fixed labels, so the output is reproducible:

    python3 Scripts/gen_mktme_fixtures.py > Tests/TestSupport/Fixtures/mktme/xts-lines.json

The machine the tests build: 2 packages, 64 MiB DRAM (package 0 owns [0, 32 MiB), package 1 owns
[32 MiB, 64 MiB)), MAXPHYADDR 46, 6 KeyID bits.
"""
import hashlib
import json
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MIB = 1 << 20
PACKAGE_SHARE = 32 * MIB


def derive(label, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"hwkeys-mktme-fixture:{label}:{counter}".encode()).digest()
        counter += 1
    return out[:length]


def xts_encrypt_lines(key, address, plaintext):
    """Encrypt consecutive 64-byte lines starting at DRAM address `address` (64-byte aligned)."""
    assert address % 64 == 0 and len(plaintext) % 64 == 0
    out = b""
    for offset in range(0, len(plaintext), 64):
        sequence = (address + offset) >> 6
        tweak = sequence.to_bytes(16, "little")
        encryptor = Cipher(algorithms.AES(key), modes.XTS(tweak)).encryptor()
        out += encryptor.update(plaintext[offset:offset + 64]) + encryptor.finalize()
    return out


def main():
    cases = []
    layout = [
        # (algorithm, key bytes per half, DRAM address, package, lines)
        ("aes-xts-128", 16, 0x0, 0, 1),
        ("aes-xts-128", 16, 0x12340, 0, 2),
        ("aes-xts-128", 16, 0x1FFFFC0, 0, 1),
        ("aes-xts-128", 16, PACKAGE_SHARE + 0x40, 1, 2),
        ("aes-xts-128", 16, 0x3FFFF80, 1, 2),
        ("aes-xts-256", 32, 0x1000, 0, 4),
        ("aes-xts-256", 32, 0x0ABCDC0, 0, 1),
        ("aes-xts-256", 32, PACKAGE_SHARE, 1, 1),
        ("aes-xts-256", 32, 0x2F00040, 1, 3),
    ]
    for index, (algorithm, half, address, package, lines) in enumerate(layout):
        data_key = derive(f"{index}:data", half)
        tweak_key = derive(f"{index}:tweak", half)
        if data_key == tweak_key:
            raise SystemExit("XTS requires distinct keys")
        plaintext = derive(f"{index}:plaintext", 64 * lines)
        cases.append({
            "algorithm": algorithm,
            "data_key": data_key.hex(),
            "tweak_key": tweak_key.hex(),
            "address": f"0x{address:x}",
            "package": package,
            "plaintext": plaintext.hex(),
            "ciphertext": xts_encrypt_lines(data_key + tweak_key, address, plaintext).hex(),
        })
    json.dump({
        "generator": "Scripts/gen_mktme_fixtures.py",
        "cipher": "AES-XTS, data unit 64 bytes, tweak = little-endian 128-bit (DRAM address >> 6)",
        "machine": {"packages": 2, "memory_bytes": 64 * MIB, "maxphyaddr": 46, "keyid_bits": 6},
        "cases": cases,
    }, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
