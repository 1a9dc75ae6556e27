//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI YMM helpers shared by the VAES kernels (aes_vaes.c, xts_vaes.c).
//
// A YMM register holds two AES blocks, one per 128-bit lane; VAESENC/VAESDEC apply one round to
// both lanes with the same or different round keys. Round keys are broadcast to both lanes once per
// call. Tweaks are multiplied by alpha in each lane independently.
//
//===----------------------------------------------------------------------===//

#ifndef CAESNI_VAES_H
#define CAESNI_VAES_H

#include "internal.h"

#if HWK_X86_64

HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_load(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_store(uint8_t *p, __m256i x) { _mm256_storeu_si256((__m256i *)p, x); }

/// Both lanes of out[r] = round key r, for r = 0 ... rounds.
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_broadcast_keys(__m256i *out, const uint8_t *schedule, uint32_t rounds) {
    for (uint32_t r = 0; r <= rounds; r++)
        out[r] = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)(schedule + 16 * r)));
}

HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_round(__m256i x, __m256i k, int decrypt) {
    return decrypt ? _mm256_aesdec_epi128(x, k) : _mm256_aesenc_epi128(x, k);
}
HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_last(__m256i x, __m256i k, int decrypt) {
    return decrypt ? _mm256_aesdeclast_epi128(x, k) : _mm256_aesenclast_epi128(x, k);
}
/// One round on eight registers (sixteen blocks): eight independent chains hide the latency.
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_round8(__m256i *x, __m256i k, int decrypt) {
    for (int j = 0; j < 8; j++) x[j] = vaes_round(x[j], k, decrypt);
}

/// Each lane times alpha (IEEE 1619 §5.2), as hwk_xts_mul_alpha.
HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_mul_alpha(__m256i t) {
    const __m256i poly = _mm256_set_epi32(0, 1, 0, 0x87, 0, 1, 0, 0x87);
    __m256i signs = _mm256_shuffle_epi32(_mm256_srai_epi32(t, 31), 0x13);
    return _mm256_xor_si256(_mm256_add_epi64(t, t), _mm256_and_si256(signs, poly));
}

/// Each lane times alpha^k for 1 <= k <= 63: shift the 128-bit lane left by k, then fold the k bits
/// shifted out back in as (bits * (x^7 + x^2 + x + 1)), a carry-less product below 2^71 that needs
/// no further reduction.
HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_mul_alpha_k(__m256i t, int k) {
    const __m256i poly = _mm256_set_epi64x(0, 0x87, 0, 0x87);
    __m256i high = _mm256_srli_epi64(t, 64 - k);                 // the top k bits of each qword
    __m256i carry = _mm256_bslli_epi128(high, 8);                // low qword's bits move into the high qword
    __m256i out = _mm256_clmulepi64_epi128(_mm256_bsrli_epi128(high, 8), poly, 0x00); // reduce bit 128+
    return _mm256_xor_si256(_mm256_xor_si256(_mm256_slli_epi64(t, k), carry), out);
}

/// Each lane times alpha^16: a two-byte shift of the lane plus the reduction of the two bytes
/// shifted out (four instructions, the trick of Linux's aes-xts-avx-x86_64.S).
HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_mul_alpha16(__m256i t) {
    const __m256i poly = _mm256_set_epi64x(0, 0x87, 0, 0x87);
    __m256i reduced = _mm256_clmulepi64_epi128(_mm256_bsrli_epi128(t, 14), poly, 0x00);
    return _mm256_xor_si256(_mm256_bslli_epi128(t, 2), reduced);
}

#endif // HWK_X86_64

#endif // CAESNI_VAES_H
