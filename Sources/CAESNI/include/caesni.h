//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI, the AES kernels (the project's only C).
//
// AES-128/256 key expansion, multi-block ECB, AES-XTS (IEEE Std 1619-2018) over data units of any
// length >= 16 bytes with ciphertext stealing, and the MKTME line engine: many 64-byte data units
// per call, each with its own sequence number.
//
// Dispatch is at run time: every function that uses AES-NI or VAES carries
// __attribute__((target(...))) and is reached only after CPUID/XGETBV say the CPU and OS support
// it. No global -m flags, so one binary runs everywhere. CPUs without AES-NI use the portable path
// in Swift (HWCrypto, over swift-crypto's AES.permute); this library never holds an S-box.
//
// Conventions for every bulk function:
//  - `path` is HWK_PATH_AESNI or HWK_PATH_VAES and must be in hwk_supported_paths(); a VAES
//    request on a CPU without VAES, and any call shorter than 512 bytes, runs the AES-NI kernels
//    (identical bytes; VAES pays a per-call setup that only pays off on longer calls). Calling a
//    bulk function or an expansion on a CPU without AES-NI aborts (host misuse);
//  - zero counts are no-ops; a data-unit length below 16 bytes writes nothing;
//  - `src` and `dst` may be the same pointer (in place) but must not otherwise overlap;
//  - no allocation, no per-block or per-line key schedule;
//  - tweaks follow NIST XTSGen / IEEE 1619: the tweak input `i` is 16 bytes; the
//    "data unit sequence number" form is i = little-endian 128-bit integer.
//
//===----------------------------------------------------------------------===//

#ifndef CAESNI_H
#define CAESNI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// AES-NI (128-bit XMM AESENC, PCLMULQDQ not required).
#define HWK_PATH_AESNI 1u
/// VAES with 256-bit YMM registers (needs VAES, VPCLMULQDQ, AVX2 and OS-enabled YMM state; every
/// CPU with VAES also has VPCLMULQDQ, which advances XTS tweaks by alpha^16 in four instructions).
#define HWK_PATH_VAES 2u

/// Bit mask of HWK_PATH_* that this CPU and OS support, computed once with CPUID and XGETBV.
uint32_t hwk_supported_paths(void);

/// An expanded AES key. `enc` holds rounds+1 round keys for encryption; `dec` holds the round keys
/// for the equivalent inverse cipher (AESIMC applied to the middle ones) in order of use.
typedef struct hwk_aes_key {
    _Alignas(16) uint8_t enc[15 * 16];
    _Alignas(16) uint8_t dec[15 * 16];
    uint32_t rounds; // 10 (AES-128) or 14 (AES-256)
} hwk_aes_key;

/// An XTS key pair: K1 encrypts data, K2 encrypts the tweak.
typedef struct hwk_xts_key {
    hwk_aes_key data;
    hwk_aes_key tweak;
} hwk_xts_key;

/// One line for the scatter/gather line engine (the cache write-back and fill paths).
typedef struct hwk_line_io {
    const uint8_t *src;
    uint8_t *dst;
    uint64_t seq;
} hwk_line_io;

/// Expand a 16- or 32-byte key. Requires HWK_PATH_AESNI support. key_len other than 16/32 is a no-op.
void hwk_aes_expand(hwk_aes_key *out, const uint8_t *key, size_t key_len);

/// Expand an XTS key pair (data key K1, tweak key K2), each key_len (16 or 32) bytes.
void hwk_xts_expand(hwk_xts_key *out, const uint8_t *data_key, const uint8_t *tweak_key, size_t key_len);

/// Overwrite n bytes with zeros in a way the compiler cannot elide.
void hwk_secure_zero(void *p, size_t n);

// MARK: - ECB over many blocks (n 16-byte blocks)

void hwk_aes_encrypt_blocks(uint32_t path, const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks);
void hwk_aes_decrypt_blocks(uint32_t path, const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks);

// MARK: - XTS over data units (contiguous, nunits units of unit_len bytes, unit_len >= 16)

/// Each unit u uses tweak input tweaks[16*u .. 16*u+15].
void hwk_xts_encrypt_units(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                           size_t unit_len, size_t nunits, const uint8_t *tweaks);
void hwk_xts_decrypt_units(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                           size_t unit_len, size_t nunits, const uint8_t *tweaks);

/// Unit u uses the sequence number first_seq + u (low 64 bits; the high 64 bits of the 128-bit
/// little-endian tweak input are zero; wraps modulo 2^64).
void hwk_xts_encrypt_units_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               size_t unit_len, size_t nunits, uint64_t first_seq);
void hwk_xts_decrypt_units_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               size_t unit_len, size_t nunits, uint64_t first_seq);

// MARK: - The line engine (64-byte data units: the MKTME case)

/// Line l (64 bytes at src + 64*l) uses sequence number seqs[l].
void hwk_xts_encrypt_lines(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                           const uint64_t *seqs, size_t nlines);
void hwk_xts_decrypt_lines(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                           const uint64_t *seqs, size_t nlines);

/// Line l uses sequence number first_seq + l.
void hwk_xts_encrypt_lines_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               uint64_t first_seq, size_t nlines);
void hwk_xts_decrypt_lines_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               uint64_t first_seq, size_t nlines);

/// Scatter/gather: each element names its own source, destination (64 bytes each) and sequence number.
void hwk_xts_encrypt_lines_iov(uint32_t path, const hwk_xts_key *key, const hwk_line_io *ios, size_t n);
void hwk_xts_decrypt_lines_iov(uint32_t path, const hwk_xts_key *key, const hwk_line_io *ios, size_t n);

// MARK: - XTS tweak helpers (for XTS composed from single-block or Key Locker instructions)

/// out[j] = t0 * alpha^j in GF(2^128) (IEEE 1619 little-endian convention), j = 0 ..< n.
/// Works on every CPU (SSE2 or plain C); out must not overlap t0.
void hwk_xts_tweak_sequence(const uint8_t t0[16], uint8_t *out, size_t n);

/// tweaks[j] = t0 * alpha^j and data[j] ^= tweaks[j] (16-byte blocks), j = 0 ..< n: the first XOR of XTS
/// composed from block-cipher instructions; the second is hwk_xor_bytes(data, data, tweaks, 16 * n).
/// Works on every CPU; the buffers must not overlap each other or t0.
void hwk_xts_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16], size_t n);

/// dst[k] = a[k] ^ b[k] for k < nbytes. dst may be a or b; otherwise the buffers must not overlap.
void hwk_xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t nbytes);

/// data[k] ^= tweaks[k], then tweaks[k] = 0, for k < nbytes, in one pass: the second XOR of XTS composed from
/// block-cipher instructions, leaving no tweak behind (the tweaks are derived from the tweak key). The
/// buffers must not overlap.
void hwk_xor_bytes_clearing(uint8_t *data, uint8_t *tweaks, size_t nbytes);

#ifdef __cplusplus
}
#endif

#endif // CAESNI_H
