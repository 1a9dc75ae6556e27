//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI XTS tweak helpers, for XTS composed from single-block operations (Key Locker's
// AES*KL instructions) on any CPU. SSE2 is part of the x86-64 baseline; elsewhere plain C.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <string.h>

#if HWK_X86_64

__attribute__((target("sse2"))) void hwk_xts_tweak_sequence(const uint8_t t0[16], uint8_t *out, size_t n) {
    __m128i t = _mm_loadu_si128((const __m128i *)t0);
    for (size_t j = 0; j < n; j++) {
        _mm_storeu_si128((__m128i *)(out + 16 * j), t);
        t = hwk_xts_mul_alpha(t);
    }
}

__attribute__((target("sse2"))) void hwk_xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t nbytes) {
    size_t k = 0;
    for (; k + 64 <= nbytes; k += 64) {
        __m128i x[4];
        for (int j = 0; j < 4; j++)
            x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a + k + 16 * j)),
                                 _mm_loadu_si128((const __m128i *)(b + k + 16 * j)));
        for (int j = 0; j < 4; j++) _mm_storeu_si128((__m128i *)(dst + k + 16 * j), x[j]);
    }
    for (; k + 16 <= nbytes; k += 16)
        _mm_storeu_si128((__m128i *)(dst + k),
                         _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a + k)), _mm_loadu_si128((const __m128i *)(b + k))));
    for (; k < nbytes; k++) dst[k] = a[k] ^ b[k];
}


/// t * alpha^8: shift left one byte; the byte shifted out, c, folds back as c * (x^7 + x^2 + x + 1).
__attribute__((target("sse2"))) static inline __m128i mul_alpha8(__m128i t) {
    const __m128i c = _mm_srli_si128(t, 15);
    const __m128i fold = _mm_xor_si128(_mm_xor_si128(c, _mm_slli_epi64(c, 1)),
                                       _mm_xor_si128(_mm_slli_epi64(c, 2), _mm_slli_epi64(c, 7)));
    return _mm_xor_si128(_mm_slli_si128(t, 1), fold);
}

__attribute__((target("sse2"))) void hwk_xts_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16],
                                                        size_t n) {
    __m128i lane[8];
    lane[0] = _mm_loadu_si128((const __m128i *)t0);
    for (int j = 1; j < 8; j++) lane[j] = hwk_xts_mul_alpha(lane[j - 1]);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int k = 0; k < 8; k++) {
            __m128i *d = (__m128i *)(data + 16 * (j + k));
            _mm_storeu_si128((__m128i *)(tweaks + 16 * (j + k)), lane[k]);
            _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), lane[k]));
            lane[k] = mul_alpha8(lane[k]);
        }
    }
    for (int k = 0; j < n; j++, k++) {
        __m128i *d = (__m128i *)(data + 16 * j);
        _mm_storeu_si128((__m128i *)(tweaks + 16 * j), lane[k]);
        _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), lane[k]));
    }
}

#else

/// T <- T * alpha (IEEE 1619 §5.2) on the two little-endian 64-bit halves.
void hwk_xts_tweak_sequence(const uint8_t t0[16], uint8_t *out, size_t n) {
    uint64_t lo = 0, hi = 0;
    for (int b = 7; b >= 0; b--) lo = (lo << 8) | t0[b], hi = (hi << 8) | t0[8 + b];
    for (size_t j = 0; j < n; j++) {
        for (int b = 0; b < 8; b++) out[16 * j + b] = (uint8_t)(lo >> (8 * b)), out[16 * j + 8 + b] = (uint8_t)(hi >> (8 * b));
        const uint64_t carry = hi >> 63;
        hi = (hi << 1) | (lo >> 63);
        lo = (lo << 1) ^ (0x87 & (0 - carry));
    }
}

void hwk_xor_bytes(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t nbytes) {
    for (size_t k = 0; k < nbytes; k++) dst[k] = a[k] ^ b[k];
}

void hwk_xts_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16], size_t n) {
    hwk_xts_tweak_sequence(t0, tweaks, n);
    hwk_xor_bytes(data, data, tweaks, 16 * n);
}

#endif
