#!/usr/bin/env python3
"""Independent crypt-volume fixtures for hwkeys (Tests/KernelTests/Fixtures/crypt/).

docs/contract.md §7 fixes the crypt volume cipher: AES-256-XTS (IEEE 1619) over 512-byte sectors with dm-crypt's
`plain64` IV: the tweak input of sector n is n as a little-endian 64-bit integer, zero-extended to 128 bits.
The key is 64 bytes, K1 (data key) || K2 (tweak key). Both hwkeys ciphers, `aes-xts-plain64` (AES-NI) and
`aes-xts-kl-plain64` (Key Locker handles), must produce exactly these bytes.

Volumes with 4096-byte sectors (`--sector-size 4096`) encrypt each 4096-byte sector as one XTS data unit,
and the plain64 IV still counts 512-byte units, as dm-crypt does without `iv_large_sectors` and as cryptsetup
activates LUKS2 volumes (docs/crypt-volumes.md "Sector size and IV"): the IV of 4096-byte sector n is 8n.

Computed with the Python `cryptography` package (OpenSSL's AES-XTS), not with any hwkeys code. Keys and
plaintexts derive from SHA-256 of fixed labels, so the output is reproducible:

    python3 Scripts/gen_crypt_fixtures.py > Tests/KernelTests/Fixtures/crypt/xts-plain64.json
    python3 Scripts/gen_crypt_fixtures.py --sector-size 4096 > Tests/KernelTests/Fixtures/crypt/xts-plain64-4k.json

`sectors`: whole-sector cases (first sector, plaintext, ciphertext), including IVs above 2^32 and 2^63 for
the tweak encoding (with 4096-byte sectors each case also gives `first_iv`, the plain64 IV of its first
sector). `partial_writes`: a write at an unaligned offset into a fresh volume, whose
disk payload is all zeros: the sectors it touches are read (zeros decrypt to XTS-D(0)), patched and encrypted
again, so the expected plaintext of those sectors is XTS-D(0) with the data laid over it.
"""
import argparse
import hashlib
import json

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512  # the sector size; main() sets it
IV_UNIT = 512  # plain64 counts 512-byte units (dm-crypt without iv_large_sectors)


def derive(label, length):
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"hwkeys-crypt-fixture:{label}:{counter}".encode()).digest()
        counter += 1
    return out[:length]


def iv(sector):
    """The plain64 IV of volume sector `sector`: its first 512-byte unit, modulo 2^64."""
    return (sector * (SECTOR // IV_UNIT)) % (1 << 64)


def xts(key, sector, data, encrypt):
    tweak = iv(sector).to_bytes(8, "little") + bytes(8)  # plain64: 64-bit little-endian, zero-extended
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
    global SECTOR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sector-size", type=int, choices=[512, 4096], default=512)
    SECTOR = parser.parse_args().sector_size
    if SECTOR == 512:
        sector_cases, partial_cases = small_sector_layout()
    else:
        sector_cases, partial_cases = large_sector_layout()
    cases = []
    for name, key, first, count in sector_cases:
        plaintext = derive(f"plain:{name}", count * SECTOR)
        case = {
            "name": name,
            "key": key.hex(),
            "first_sector": str(first),
        }
        if SECTOR != 512:
            case["first_iv"] = str(iv(first))
        case.update({
            "plaintext": plaintext.hex(),
            "ciphertext": sectors(key, first, plaintext, True).hex(),
        })
        cases.append(case)

    partial = []
    for name, key, volume_sectors, offset, length in partial_cases:
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

    document = {"generator": "Scripts/gen_crypt_fixtures.py"}
    if SECTOR == 512:
        document["cipher"] = (
            "AES-256-XTS, 512-byte sectors, tweak = plain64 (sector number, little-endian, zero-extended)"
        )
    else:
        document["cipher"] = (
            f"AES-256-XTS, {SECTOR}-byte sectors, tweak = plain64 of the sector's first 512-byte unit "
            f"(sector number x {SECTOR // IV_UNIT}, little-endian, zero-extended; dm-crypt without iv_large_sectors)"
        )
        document["sector_size"] = SECTOR
    document["sectors"] = cases
    document["partial_writes"] = partial
    print(json.dumps(document, indent=2))


def large_sector_layout():
    """Cases for 4096-byte sectors: IVs 0, 8, 16, …, above 2^32, with the top bit set, and wrapping."""
    counting = bytes(range(64))
    sector_cases = [
        # (name, key, first sector, sectors)
        ("4k-counting-key-sector-0", counting, 0, 1),
        ("4k-counting-key-sectors-1-2", counting, 1, 2),
        ("4k-derived-key-sector-255", derive("key-4k-a", 64), 255, 2),
        ("4k-iv-above-2^32", derive("key-4k-b", 64), (1 << 30) + 5, 1),
        ("4k-iv-top-bit", derive("key-4k-c", 64), (1 << 60) + 1, 1),
        ("4k-iv-wraps", derive("key-4k-d", 64), (1 << 61) - 1, 2),
    ]
    partial_cases = [
        # (name, key, volume sectors, offset, length)
        ("4k-inside-one-sector", counting, 2, 5, 11),
        ("4k-across-two-sectors", derive("key-4k-e", 64), 4, 4090, 30),
        ("4k-head-and-tail-partial", derive("key-4k-f", 64), 4, 1000, 9000),
        ("4k-aligned-start-partial-tail", derive("key-4k-g", 64), 4, 4096, 700),
    ]
    return sector_cases, partial_cases


def small_sector_layout():
    counting = bytes(range(64))
    sector_cases = [
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
    partial_cases = [
        ("inside-one-sector", counting, 4, 5, 11),
        ("across-two-sectors", derive("key-g", 64), 8, 500, 30),
        ("head-and-tail-partial", derive("key-h", 64), 16, 1000, 2100),
        ("aligned-start-partial-tail", derive("key-i", 64), 8, 1024, 700),
    ]
    return sector_cases, partial_cases


if __name__ == "__main__":
    main()
