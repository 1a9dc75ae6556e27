//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI internals shared by the kernels (not part of the public contract).
//
// Naming: aesni_* functions use 128-bit XMM AES-NI; vaes_* functions use VAES on 256-bit YMM.
// Every function that uses an instruction beyond the x86-64 baseline carries one of the target
// attributes below, so the file compiles without -m flags and the code is reached only after
// hwk_supported_paths() has said yes (dispatch.c).
//
// References used throughout:
//  - FIPS 197 (AES), §5.1 cipher, §5.2 key expansion, §5.3.5 equivalent inverse cipher;
//  - Intel, "Advanced Encryption Standard (AES) New Instructions Set", rev. 3.01 (the AES-NI
//    whitepaper): key expansion (Figures 24 and 26), parallel pipelining (§ "Performance and
//    Performance Optimization Guidelines");
//  - IEEE Std 1619-2018 (XTS-AES): §5.1 data units and tweaks, §5.2 multiplication by alpha,
//    §5.3 encryption, §5.3.2 / §5.4.2 ciphertext stealing, §5.4 decryption.
//
//===----------------------------------------------------------------------===//

#ifndef CAESNI_INTERNAL_H
#define CAESNI_INTERNAL_H

#include "caesni.h"

#if defined(__x86_64__)
#define HWK_X86_64 1
#include <immintrin.h>
#else
#define HWK_X86_64 0
#endif

#define HWK_ALWAYS_INLINE static inline __attribute__((always_inline))

/// Code that may use AES-NI (and everything up to SSE4.1, which every AES-NI CPU has).
#define HWK_TARGET_AESNI __attribute__((target("aes,sse4.1")))
/// Code that may use VAES and VPCLMULQDQ on YMM registers (AVX2 for the integer lane operations).
#define HWK_TARGET_VAES __attribute__((target("aes,sse4.1,avx,avx2,vaes,vpclmulqdq,pclmul")))

/// Where the line engine finds each line's sequence number and buffers.
enum hwk_line_mode {
    HWK_LINES_ARRAY = 0,  // line l: src + 64l, dst + 64l, seqs[l]
    HWK_LINES_CONSEC = 1, // line l: src + 64l, dst + 64l, first + l (mod 2^64)
    HWK_LINES_IOV = 2,    // line l: ios[l].src, ios[l].dst, ios[l].seq
    HWK_LINES_RAW = 3,    // line l: src + 64l, dst + 64l, 16-byte tweak input tweaks + 16l
};

/// One call of the line engine, in any of the four modes.
typedef struct hwk_line_job {
    const uint8_t *src;
    uint8_t *dst;
    const uint64_t *seqs;
    uint64_t first;
    const hwk_line_io *ios;
    const uint8_t *tweaks;
    size_t n;
} hwk_line_job;

/// Data units of any length >= 16: either raw 16-byte tweak inputs or consecutive sequence numbers.
typedef struct hwk_unit_job {
    const uint8_t *src;
    uint8_t *dst;
    size_t unit_len;
    size_t n;
    const uint8_t *tweaks; // NULL: use first + u
    uint64_t first;
} hwk_unit_job;

#if HWK_X86_64

// MARK: AES-NI (aes_aesni.c, xts_aesni.c)

void aesni_expand(hwk_aes_key *out, const uint8_t *key, size_t key_len);
void aesni_ecb(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks, int decrypt);
void aesni_xts_lines(const hwk_xts_key *key, const hwk_line_job *job, int mode, int decrypt);
void aesni_xts_units(const hwk_xts_key *key, const hwk_unit_job *job, int decrypt);

// MARK: VAES (aes_vaes.c, xts_vaes.c)

void vaes_ecb(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks, int decrypt);
void vaes_xts_lines(const hwk_xts_key *key, const hwk_line_job *job, int mode, int decrypt);
void vaes_xts_units(const hwk_xts_key *key, const hwk_unit_job *job, int decrypt);

// MARK: Shared XMM helpers

/// T <- T * alpha in GF(2^128) with the IEEE 1619 little-endian convention (§5.2): shift the
/// 128-bit little-endian integer left by one; if bit 127 falls out, XOR 0x87 into byte 0.
/// Branch-free: the sign of dword 3 selects the reduction, the sign of dword 1 carries bit 63 into
/// bit 64 (the two qwords are doubled separately by PADDQ).
__attribute__((target("sse2"))) HWK_ALWAYS_INLINE __m128i hwk_xts_mul_alpha(__m128i t) {
    const __m128i poly = _mm_set_epi32(0, 1, 0, 0x87);
    __m128i signs = _mm_srai_epi32(t, 31);
    signs = _mm_shuffle_epi32(signs, 0x13); // dword 0 <- dword 3, dword 2 <- dword 1
    return _mm_xor_si128(_mm_add_epi64(t, t), _mm_and_si128(signs, poly));
}

/// The 16-byte tweak input of line `l` of `job` (NIST XTSGen: a sequence number is its
/// little-endian 128-bit encoding, so the upper 64 bits are zero).
__attribute__((target("sse2"))) HWK_ALWAYS_INLINE __m128i hwk_line_tweak_input(const hwk_line_job *job, int mode,
                                                                             size_t l) {
    switch (mode) {
    case HWK_LINES_ARRAY: return _mm_cvtsi64_si128((long long)job->seqs[l]);
    case HWK_LINES_CONSEC: return _mm_cvtsi64_si128((long long)(job->first + (uint64_t)l));
    case HWK_LINES_IOV: return _mm_cvtsi64_si128((long long)job->ios[l].seq);
    default: return _mm_loadu_si128((const __m128i *)(job->tweaks + 16 * l));
    }
}

/// Source and destination of line `l` of `job`.
HWK_ALWAYS_INLINE const uint8_t *hwk_line_src(const hwk_line_job *job, int mode, size_t l) {
    return mode == HWK_LINES_IOV ? job->ios[l].src : job->src + 64 * l;
}
HWK_ALWAYS_INLINE uint8_t *hwk_line_dst(const hwk_line_job *job, int mode, size_t l) {
    return mode == HWK_LINES_IOV ? job->ios[l].dst : job->dst + 64 * l;
}

/// One full AES encryption (FIPS 197 §5.1) or equivalent-inverse decryption (§5.3.5) of one block.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE __m128i hwk_aesni_encrypt1(const hwk_aes_key *key, __m128i x) {
    const __m128i *rk = (const __m128i *)key->enc;
    x = _mm_xor_si128(x, rk[0]);
    for (uint32_t r = 1; r < key->rounds; r++) x = _mm_aesenc_si128(x, rk[r]);
    return _mm_aesenclast_si128(x, rk[key->rounds]);
}
HWK_TARGET_AESNI HWK_ALWAYS_INLINE __m128i hwk_aesni_decrypt1(const hwk_aes_key *key, __m128i x) {
    const __m128i *rk = (const __m128i *)key->dec;
    x = _mm_xor_si128(x, rk[0]);
    for (uint32_t r = 1; r < key->rounds; r++) x = _mm_aesdec_si128(x, rk[r]);
    return _mm_aesdeclast_si128(x, rk[key->rounds]);
}

/// XEX of one block under the data key: E_K1(P ^ T) ^ T or D_K1(C ^ T) ^ T (IEEE 1619 §5.3.1).
HWK_TARGET_AESNI HWK_ALWAYS_INLINE __m128i hwk_aesni_xex1(const hwk_aes_key *k1, __m128i x, __m128i t, int decrypt) {
    x = _mm_xor_si128(x, t);
    x = decrypt ? hwk_aesni_decrypt1(k1, x) : hwk_aesni_encrypt1(k1, x);
    return _mm_xor_si128(x, t);
}

/// Ciphertext stealing for the last full block and the b-byte tail of a data unit (IEEE 1619
/// §5.3.2 encryption, §5.4.2 decryption). `full` is the last full block (P_{m-1} or C_{m-1}) and
/// `tail` the b partial bytes (P_m or C_m); `t_prev` = T_{m-1}, `t_last` = T_m. In place is allowed:
/// the tail is read before anything is written.
///
/// Encrypt: CC = XEX(P_{m-1}, T_{m-1}); C_m = CC[0..<b]; C_{m-1} = XEX(P_m || CC[b..<16], T_m).
/// Decrypt: PP = XEX^-1(C_{m-1}, T_m); P_m = PP[0..<b]; P_{m-1} = XEX^-1(C_m || PP[b..<16], T_{m-1}).
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void hwk_aesni_steal(const hwk_aes_key *k1, const uint8_t *src, uint8_t *dst,
                                                        size_t b, __m128i t_prev, __m128i t_last, int decrypt) {
    _Alignas(16) uint8_t head[16];
    uint8_t tail[16];
    for (size_t k = 0; k < b; k++) tail[k] = src[16 + k];
    __m128i first = hwk_aesni_xex1(k1, _mm_loadu_si128((const __m128i *)src), decrypt ? t_last : t_prev, decrypt);
    _mm_store_si128((__m128i *)head, first);
    for (size_t k = 0; k < b; k++) {
        dst[16 + k] = head[k]; // C_m (or P_m) = the first b bytes
        head[k] = tail[k];     // the stolen block: the tail followed by the rest of `first`
    }
    __m128i second = hwk_aesni_xex1(k1, _mm_load_si128((const __m128i *)head), decrypt ? t_prev : t_last, decrypt);
    _mm_storeu_si128((__m128i *)dst, second);
    hwk_secure_zero(head, sizeof head);
    hwk_secure_zero(tail, sizeof tail);
}

/// T_0 = E_K2(i) for units u ..< u + group (group <= 8) of `job`, eight AESENC chains side by side.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void hwk_aesni_unit_tweaks(const hwk_aes_key *k2, const hwk_unit_job *job, size_t u,
                                                              size_t group, __m128i t[8]) {
    const __m128i *rk = (const __m128i *)k2->enc;
    for (size_t j = 0; j < 8; j++) {
        __m128i in = _mm_setzero_si128();
        if (j < group)
            in = job->tweaks ? _mm_loadu_si128((const __m128i *)(job->tweaks + 16 * (u + j)))
                             : _mm_cvtsi64_si128((long long)(job->first + (uint64_t)(u + j)));
        t[j] = _mm_xor_si128(in, rk[0]);
    }
    for (uint32_t r = 1; r < k2->rounds; r++)
        for (int j = 0; j < 8; j++) t[j] = _mm_aesenc_si128(t[j], rk[r]);
    for (int j = 0; j < 8; j++) t[j] = _mm_aesenclast_si128(t[j], rk[k2->rounds]);
}

#endif // HWK_X86_64

#endif // CAESNI_INTERNAL_H
