#!/usr/bin/env python3
"""Independent expected values for hwkeys' Key Locker tests (Tests/TestSupport/Fixtures/keylocker/).

Computed with Python `cryptography` (OpenSSL), not with hwkeys:

* handles: the docs/contract.md §3 wrap. AES-256-GCM-SIV (RFC 8452) keyed with the IWKey encryption
  key, nonce = integrity key bytes 0-11, associated data = AAD (handle bytes 0-15) followed by integrity
  key bytes 12-15, plaintext = the AES key. Handle = AAD || tag || wrapped key. The AAD is
  restrictions (bits 2:0) | key type << 24 (0 = AES-128, 1 = AES-256), little-endian, rest zero.
* aes: AES-128/256 ECB encryption and decryption of eight blocks under the wrapped key, which is what
  AESENC*KL / AESDEC*KL (one block) and the WIDE forms (eight blocks) must produce.

Inputs are derived from SHA-256 of fixed labels, so rerunning the script reproduces the file exactly:

    python3 Scripts/gen_keylocker_fixtures.py > Tests/TestSupport/Fixtures/keylocker/vectors.json
"""

import hashlib
import json

import cryptography
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV


def derive(label: str, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"hwkeys.kl-fixture.{label}.{counter}".encode()).digest()
        counter += 1
    return out[:length]


def wrap(enc: bytes, integrity: bytes, restrictions: int, key: bytes) -> bytes:
    key_type = 0 if len(key) == 16 else 1
    aad = (restrictions | key_type << 24).to_bytes(4, "little") + bytes(12)
    sealed = AESGCMSIV(enc).encrypt(integrity[0:12], key, aad + integrity[12:16])
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return aad + tag + ciphertext


def ecb(key: bytes, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def main() -> None:
    iwkeys = [
        ("zero", bytes(32), bytes(16)),  # the IWKey every processor has after power loss
        ("a", derive("iwkey-a-enc", 32), derive("iwkey-a-int", 16)),
        ("b", derive("iwkey-b-enc", 32), derive("iwkey-b-int", 16)),
    ]
    cases = []
    for name, enc, integrity in iwkeys:
        for key_bits in (128, 256):
            for restrictions in range(8):
                label = f"{name}-{key_bits}-{restrictions}"
                key = derive("key-" + label, key_bits // 8)
                blocks = derive("blocks-" + label, 128)
                cases.append(
                    {
                        "name": label,
                        "iwkey_encryption_key": enc.hex(),
                        "iwkey_integrity_key": integrity.hex(),
                        "restrictions": restrictions,
                        "key": key.hex(),
                        "handle": wrap(enc, integrity, restrictions, key).hex(),
                        "blocks": blocks.hex(),
                        "encrypted": ecb(key, blocks, True).hex(),
                        "decrypted": ecb(key, blocks, False).hex(),
                    }
                )
    document = {
        "generator": "Scripts/gen_keylocker_fixtures.py",
        "library": f"cryptography {cryptography.__version__}",
        "cases": cases,
    }
    print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
