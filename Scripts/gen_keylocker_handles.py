#!/usr/bin/env python3
"""Independent Key Locker handles for HWCrypto's KeyLockerWrap tests.

Builds handles exactly as docs/contract.md §3 chooses, with pyca/cryptography's AESGCMSIV (no code shared
with swift-crypto's BoringSSL):

  AES-256-GCM-SIV (RFC 8452) keyed with the IWKey encryption key (32 bytes),
  nonce = integrity key bytes 0-11,
  associated data = handle bytes 0-15 (the AAD) followed by integrity key bytes 12-15,
  plaintext = the AES key (16 or 32 bytes);
  handle = AAD (16) || tag (16) || wrapped key (16 or 32).

The AAD is built as ENCODEKEY* builds it: bits 2:0 restrictions (CPL0-only, no-encrypt,
no-decrypt), bits 27:24 key type (0 = AES-128, 1 = AES-256), every other bit zero.

Usage: python3 Scripts/gen_keylocker_handles.py > Tests/HWCryptoTests/Vectors/generated/keylocker-handles.json
"""

import json
import random
import sys

import cryptography
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

SEED = 0x4B4C  # "KL"


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def handle_aad(restrictions: int, key_type: int) -> bytes:
    return ((restrictions & 0x7) | (key_type << 24)).to_bytes(16, "little")


def wrap(key: bytes, aad: bytes, encryption_key: bytes, integrity_key: bytes) -> bytes:
    sealed = AESGCMSIV(encryption_key).encrypt(integrity_key[:12], key, aad + integrity_key[12:16])
    ciphertext, tag = sealed[:-16], sealed[-16:]  # cryptography appends the tag
    return aad + tag + ciphertext


def main():
    rng = random.Random(SEED)
    cases = []
    for index in range(24):
        key_size = 16 if index % 2 == 0 else 32
        encryption_key, integrity_key = random_bytes(rng, 32), random_bytes(rng, 16)
        key = random_bytes(rng, key_size)
        aad = handle_aad(rng.randrange(0, 8), 0 if key_size == 16 else 1)
        cases.append({
            "encryptionKey": encryption_key.hex(),
            "integrityKey": integrity_key.hex(),
            "aad": aad.hex(),
            "key": key.hex(),
            "handle": wrap(key, aad, encryption_key, integrity_key).hex(),
        })
    json.dump({
        "generator": "Scripts/gen_keylocker_handles.py",
        "library": f"pyca/cryptography {cryptography.__version__}",
        "seed": SEED,
        "cases": cases,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
