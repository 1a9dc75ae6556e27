#!/usr/bin/env python3
"""Independent crypt-volume fixtures for hwkeys (Tests/KernelTests/Fixtures/crypt/).

docs/contract.md §7 fixes the crypt volume cipher: AES-256-XTS (IEEE 1619) over 512-byte sectors with dm-crypt's
`plain64` IV: the tweak input of sector n is n as a little-endian 64-bit integer, zero-extended to 128 bits.
The key is 64 bytes, K1 (data key) || K2 (tweak key). Both hwkeys ciphers, `aes-xts-plain64` (AES-NI) and
`aes-xts-kl-plain64` (Key Locker handles), must produce exactly these bytes.

Computed with the Python `cryptography` package (OpenSSL's AES-XTS), not with any hwkeys code. Keys and
plaintexts derive from SHA-256 of fixed labels, so the output is reproducible:

    python3 Scripts/gen_crypt_fixtures.py > Tests/KernelTests/Fixtures/crypt/xts-plain64.json

`sectors`: whole-sector cases (first sector, plaintext, ciphertext), including sector numbers above 2^32
and 2^63 for the tweak encoding. `partial_writes`: a write at an unaligned offset into a fresh volume, whose
disk payload is all zeros: the sectors it touches are read (zeros decrypt to XTS-D(0)), patched and encrypted
again, so the expected plaintext of those sectors is XTS-D(0) with the data laid over it.
"""
import hashlib
import json

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512


def derive(label, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"hwkeys-crypt-fixture:{label}:{counter}".encode()).digest()
        counter += 1
    return out[:length]


def xts(key, sector, data, encrypt):
    tweak = sector.to_bytes(8, "little") + bytes(8)  # plain64: 64-bit little-endian, zero-extended
    cipher = Cipher(algorithms.AES(key), modes.XTS(tweak))
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def sectors(key, first, data, encrypt):
    assert len(data) % SECTOR == 0
    return b"".join(
        xts(key, first + index, data[index * SECTOR:(index + 1) * SECTOR], encrypt)
        for index in range(len(data) // SECTOR)
    )


def main():
    counting = bytes(range(64))
    cases = []
    layout = [
        # (name, key, first sector, sectors)
        ("counting-key-sector-0", counting, 0, 1),
        ("counting-key-sectors-1-8", counting, 1, 8),
        ("derived-key-sector-0", derive("key-a", 64), 0, 1),
        ("derived-key-4k-at-8", derive("key-a", 64), 8, 8),
        ("derived-key-sector-255", derive("key-b", 64), 255, 3),
        ("derived-key-sector-2047", derive("key-c", 64), 2047, 1),
        ("tweak-above-2^32", derive("key-d", 64), (1 << 32) + 5, 2),
        ("tweak-top-bit", derive("key-e", 64), (1 << 63) + 1, 1),
        ("tweak-wraps", derive("key-f", 64), (1 << 64) - 1, 1),
    ]
    for name, key, first, count in layout:
        plaintext = derive(f"plain:{name}", count * SECTOR)
        cases.append({
            "name": name,
            "key": key.hex(),
            "first_sector": str(first),
            "plaintext": plaintext.hex(),
            "ciphertext": sectors(key, first, plaintext, True).hex(),
        })

    partial = []
    for name, key, volume_sectors, offset, length in [
        ("inside-one-sector", counting, 4, 5, 11),
        ("across-two-sectors", derive("key-g", 64), 8, 500, 30),
        ("head-and-tail-partial", derive("key-h", 64), 16, 1000, 2100),
        ("aligned-start-partial-tail", derive("key-i", 64), 8, 1024, 700),
    ]:
        data = derive(f"partial:{name}", length)
        first = offset // SECTOR
        last = (offset + length - 1) // SECTOR
        zeros = bytes((last - first + 1) * SECTOR)
        plain = bytearray(sectors(key, first, zeros, False))  # what the zero payload decrypts to
        head = offset - first * SECTOR
        plain[head:head + length] = data
        partial.append({
            "name": name,
            "key": key.hex(),
            "volume_sectors": volume_sectors,
            "offset": offset,
            "data": data.hex(),
            "first_sector": first,
            "plaintext": bytes(plain).hex(),
            "ciphertext": sectors(key, first, bytes(plain), True).hex(),
        })

    print(json.dumps({
        "generator": "Scripts/gen_crypt_fixtures.py",
        "cipher": "AES-256-XTS, 512-byte sectors, tweak = plain64 (sector number, little-endian, zero-extended)",
        "sectors": cases,
        "partial_writes": partial,
    }, indent=2))


if __name__ == "__main__":
    main()
