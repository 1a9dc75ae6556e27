#!/usr/bin/env python3
"""Independent AES-XTS / AES-ECB expectations for HWCrypto's differential tests.

Computes ciphertexts with pyca/cryptography (OpenSSL underneath), which shares no code with
CAESNI or HWCrypto, for:
  - the line engine: 64-byte data units, each with its own sequence number, in the forms the
    Swift API offers (array of sequence numbers, consecutive numbers, scatter/gather list);
  - data units of many lengths >= 16 bytes (ciphertext stealing when not a multiple of 16), with
    raw 16-byte tweak inputs or consecutive sequence numbers;
  - AES-128/256 ECB over many blocks;
  - XTS tweak sequences T0 * alpha^j (IEEE 1619 §5.2), computed with Python integers.

Conventions (docs/contract.md §2, NIST XTSGen): the tweak input of sequence number s is s as a 128-bit
little-endian integer; consecutive numbers wrap modulo 2^64. 64-bit values are written as decimal
strings so that no JSON reader rounds them.

Usage: python3 Scripts/gen_xts_vectors.py > Tests/HWCryptoTests/Vectors/generated/xts.json
"""

import json
import random
import sys

import cryptography
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED = 0x68776B657973  # "hwkeys"
U64 = 1 << 64


def xts(key1: bytes, key2: bytes, tweak: bytes, data: bytes) -> bytes:
    # cryptography's XTS takes K1 || K2 and the 16-byte tweak input directly.
    enc = Cipher(algorithms.AES(key1 + key2), modes.XTS(tweak)).encryptor()
    return enc.update(data) + enc.finalize()


def seq_tweak(seq: int) -> bytes:
    return (seq % U64).to_bytes(16, "little")


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def xts_keys(rng: random.Random, size: int):
    while True:
        k1, k2 = random_bytes(rng, size), random_bytes(rng, size)
        if k1 != k2:  # OpenSSL refuses equal halves
            return k1, k2


def sequence_numbers(rng: random.Random, kind: str, n: int):
    if kind == "small":
        return [rng.randrange(0, 1 << 20) for _ in range(n)]
    if kind == "above32":
        return [rng.randrange(1 << 32, 1 << 48) for _ in range(n)]
    if kind == "near64":
        return [U64 - 1 - rng.randrange(0, 1 << 12) for _ in range(n)]
    return [rng.getrandbits(64) for _ in range(n)]  # "any"


def line_cases(rng: random.Random):
    cases = []
    counts = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 33, 64, 130, 257]
    kinds = ["small", "above32", "near64", "any"]
    for form in ["array", "consecutive", "iov"]:
        for index, count in enumerate(counts):
            size = 16 if index % 2 == 0 else 32
            k1, k2 = xts_keys(rng, size)
            case = {"form": form, "keySize": size, "key1": k1.hex(), "key2": k2.hex()}
            if form == "consecutive":
                starts = [rng.randrange(0, 1 << 20), (1 << 32) - 5, U64 - 3, rng.getrandbits(64)]
                first = starts[index % len(starts)]
                seqs = [(first + l) % U64 for l in range(count)]
                case["firstSequence"] = str(first)
            else:
                seqs = sequence_numbers(rng, kinds[index % len(kinds)], count)
            plaintext = random_bytes(rng, 64 * count)
            ciphertext = b"".join(
                xts(k1, k2, seq_tweak(s), plaintext[64 * l : 64 * l + 64]) for l, s in enumerate(seqs)
            )
            case.update(
                sequences=[str(s) for s in seqs],
                plaintext=plaintext.hex(),
                ciphertext=ciphertext.hex(),
            )
            cases.append(case)
    return cases


def unit_cases(rng: random.Random):
    cases = []
    shapes = [
        (16, 1), (16, 9), (17, 3), (31, 2), (32, 5), (47, 4), (48, 1), (63, 3), (64, 12), (65, 2),
        (100, 3), (255, 2), (256, 3), (257, 1), (511, 1), (512, 4), (520, 3), (1000, 1), (4096, 3),
        (4100, 2), (4111, 1), (8192, 1),
    ]
    for index, (length, count) in enumerate(shapes):
        for form in ["tweaks", "sequence"]:
            size = 16 if (index + (form == "sequence")) % 2 == 0 else 32
            k1, k2 = xts_keys(rng, size)
            plaintext = random_bytes(rng, length * count)
            case = {"form": form, "keySize": size, "key1": k1.hex(), "key2": k2.hex(),
                    "unitLength": length, "count": count}
            if form == "tweaks":
                tweaks = [random_bytes(rng, 16) for _ in range(count)]
                case["tweaks"] = [t.hex() for t in tweaks]
            else:
                first = [rng.randrange(0, 1 << 32), U64 - 2, rng.getrandbits(64)][index % 3]
                tweaks = [seq_tweak(first + u) for u in range(count)]
                case["firstSequence"] = str(first)
            ciphertext = b"".join(
                xts(k1, k2, tweaks[u], plaintext[length * u : length * (u + 1)]) for u in range(count)
            )
            case.update(plaintext=plaintext.hex(), ciphertext=ciphertext.hex())
            cases.append(case)
    return cases


def ecb_cases(rng: random.Random):
    cases = []
    for index, blocks in enumerate([1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100]):
        key = random_bytes(rng, 16 if index % 2 == 0 else 32)
        plaintext = random_bytes(rng, 16 * blocks)
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        cases.append({"key": key.hex(), "plaintext": plaintext.hex(),
                      "ciphertext": (enc.update(plaintext) + enc.finalize()).hex()})
    return cases


def times_alpha(t: int) -> int:
    """T * alpha in GF(2^128) mod x^128 + x^7 + x^2 + x + 1, little-endian integers."""
    t <<= 1
    if t >> 128:
        t = (t ^ 0x87) & ((1 << 128) - 1)
    return t


def tweak_sequence_cases(rng: random.Random):
    cases = []
    for count in [1, 2, 17, 64]:
        t0 = random_bytes(rng, 16)
        t, out = int.from_bytes(t0, "little"), b""
        for _ in range(count):
            out += t.to_bytes(16, "little")
            t = times_alpha(t)
        cases.append({"t0": t0.hex(), "count": count, "sequence": out.hex()})
    # A tweak with bit 127 set exercises the reduction on the first step.
    t0 = bytes(15) + b"\x80"
    cases.append({"t0": t0.hex(), "count": 2,
                  "sequence": (t0 + times_alpha(int.from_bytes(t0, "little")).to_bytes(16, "little")).hex()})
    return cases


def main():
    rng = random.Random(SEED)
    document = {
        "generator": "Scripts/gen_xts_vectors.py",
        "library": f"pyca/cryptography {cryptography.__version__}",
        "seed": SEED,
        "lines": line_cases(rng),
        "units": unit_cases(rng),
        "ecb": ecb_cases(rng),
        "tweakSequences": tweak_sequence_cases(rng),
    }
    json.dump(document, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
