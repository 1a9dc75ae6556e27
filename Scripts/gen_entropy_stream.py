#!/usr/bin/env python3
"""Independent output of HWCrypto's SeededEntropySource, exactly as its doc comment defines it:

  K = SHA-256("hwkeys.entropy.v1" || seed as 8 little-endian bytes)[0:16]
  output block n = AES-128_K(n as a 128-bit little-endian integer)

computed with hashlib and pyca/cryptography. For each seed: the first blocks of the stream, and a
run of blocks from a later position (to check resuming from `blocksConsumed`).

Usage: python3 Scripts/gen_entropy_stream.py > Tests/HWCryptoTests/Vectors/generated/entropy.json
"""

import hashlib
import json
import sys

import cryptography
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEEDS = [0, 1, 42, 0x0123456789ABCDEF, (1 << 64) - 1]


def blocks(seed: int, start: int, count: int) -> bytes:
    key = hashlib.sha256(b"hwkeys.entropy.v1" + seed.to_bytes(8, "little")).digest()[:16]
    counters = b"".join((start + n).to_bytes(16, "little") for n in range(count))
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(counters) + enc.finalize()


def main():
    cases = []
    for seed in SEEDS:
        later = 1000 + seed % 977
        cases.append({
            "seed": str(seed),
            "first": blocks(seed, 0, 8).hex(),
            "laterStart": str(later),
            "later": blocks(seed, later, 4).hex(),
        })
    json.dump({
        "generator": "Scripts/gen_entropy_stream.py",
        "library": f"hashlib + pyca/cryptography {cryptography.__version__}",
        "cases": cases,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
