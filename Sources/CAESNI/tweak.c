//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI XTS tweak helpers, for XTS composed from single-block operations (Key Locker's
// AES*KL instructions) on any CPU. SSE2 is part of the x86-64 baseline; with PCLMULQDQ or the VAES path
// (AVX2, VPCLMULQDQ) the tweak sequence takes fewer instructions (run-time dispatch, as the XTS kernels);
// elsewhere plain C.
//
//===----------------------------------------------------------------------===//

#include "internal.h"
#include "vaes.h"

#include <stdatomic.h>
#include <string.h>

#if HWK_X86_64
#include <cpuid.h>
#endif

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

/// The same with PCLMULQDQ: the byte shifted out times 0x87 in one carry-less multiply (the reduction of
/// Linux's aes-xts-avx-x86_64.S, on one lane).
#define HWK_TARGET_CLMUL __attribute__((target("sse4.1,pclmul")))
HWK_TARGET_CLMUL HWK_ALWAYS_INLINE __m128i clmul_mul_alpha8(__m128i t) {
    const __m128i poly = _mm_set_epi64x(0, 0x87);
    return _mm_xor_si128(_mm_slli_si128(t, 1), _mm_clmulepi64_si128(_mm_srli_si128(t, 15), poly, 0x00));
}

/// CPUID.1:ECX[1] (PCLMULQDQ), computed once (every AES-NI CPU has it; checked all the same).
static int hwk_has_pclmul(void) {
    static _Atomic int cached = -1;
    int value = atomic_load_explicit(&cached, memory_order_relaxed);
    if (value < 0) {
        unsigned int eax, ebx, ecx, edx;
        value = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && ((ecx >> 1) & 1) && ((ecx >> 19) & 1);
        atomic_store_explicit(&cached, value, memory_order_relaxed);
    }
    return value;
}

__attribute__((target("sse2"))) static void sse2_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16],
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

/// Eight lanes T_j ... T_j+7, each advanced by alpha^8 with one PCLMULQDQ: about half the instructions
/// of the SSE2 fold.
HWK_TARGET_CLMUL static void clmul_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16], size_t n) {
    __m128i lane[8];
    lane[0] = _mm_loadu_si128((const __m128i *)t0);
    for (int j = 1; j < 8; j++) lane[j] = hwk_xts_mul_alpha(lane[j - 1]);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int k = 0; k < 8; k++) {
            __m128i *d = (__m128i *)(data + 16 * (j + k));
            _mm_storeu_si128((__m128i *)(tweaks + 16 * (j + k)), lane[k]);
            _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), lane[k]));
            lane[k] = clmul_mul_alpha8(lane[k]);
        }
    }
    for (int k = 0; j < n; j++, k++) {
        __m128i *d = (__m128i *)(data + 16 * j);
        _mm_storeu_si128((__m128i *)(tweaks + 16 * j), lane[k]);
        _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), lane[k]));
    }
}

/// Eight YMM lanes of two tweaks each, [T_2k, T_2k+1], advanced by alpha^16 (vaes_mul_alpha16): sixteen
/// blocks per iteration, two per load, XOR and store.
HWK_TARGET_VAES static void vaes_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16], size_t n) {
    __m128i t[16];
    t[0] = _mm_loadu_si128((const __m128i *)t0);
    for (int j = 1; j < 16; j++) t[j] = hwk_xts_mul_alpha(t[j - 1]);
    __m256i lane[8];
    for (int k = 0; k < 8; k++) lane[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(t[2 * k]), t[2 * k + 1], 1);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        for (int k = 0; k < 8; k++) {
            uint8_t *d = data + 16 * (j + 2 * k);
            vaes_store(tweaks + 16 * (j + 2 * k), lane[k]);
            vaes_store(d, _mm256_xor_si256(vaes_load(d), lane[k]));
            lane[k] = vaes_mul_alpha16(lane[k]);
        }
    }
    if (j == n) return;
    // Fewer than sixteen blocks left: one at a time from T_j (the low lane of lane[0]).
    __m128i next = _mm256_castsi256_si128(lane[0]);
    for (; j < n; j++) {
        __m128i *d = (__m128i *)(data + 16 * j);
        _mm_storeu_si128((__m128i *)(tweaks + 16 * j), next);
        _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), next));
        next = hwk_xts_mul_alpha(next);
    }
}

void hwk_xts_xor_tweaks(uint8_t *data, uint8_t *tweaks, const uint8_t t0[16], size_t n) {
    if (hwk_supported_paths() & HWK_PATH_VAES) {
        vaes_xor_tweaks(data, tweaks, t0, n);
    } else if (hwk_has_pclmul()) {
        clmul_xor_tweaks(data, tweaks, t0, n);
    } else {
        sse2_xor_tweaks(data, tweaks, t0, n);
    }
}

__attribute__((target("sse2"))) static void sse2_xor_clearing(uint8_t *data, uint8_t *tweaks, size_t nbytes) {
    const __m128i zero = _mm_setzero_si128();
    size_t k = 0;
    for (; k + 64 <= nbytes; k += 64) {
        for (int j = 0; j < 4; j++) {
            __m128i *d = (__m128i *)(data + k + 16 * j), *t = (__m128i *)(tweaks + k + 16 * j);
            _mm_storeu_si128(d, _mm_xor_si128(_mm_loadu_si128(d), _mm_loadu_si128(t)));
            _mm_storeu_si128(t, zero);
        }
    }
    for (; k < nbytes; k++) data[k] ^= tweaks[k], tweaks[k] = 0;
}

HWK_TARGET_VAES static void avx2_xor_clearing(uint8_t *data, uint8_t *tweaks, size_t nbytes) {
    const __m256i zero = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 128 <= nbytes; k += 128) {
        for (int j = 0; j < 4; j++) {
            uint8_t *d = data + k + 32 * j, *t = tweaks + k + 32 * j;
            vaes_store(d, _mm256_xor_si256(vaes_load(d), vaes_load(t)));
            vaes_store(t, zero);
        }
    }
    for (; k < nbytes; k++) data[k] ^= tweaks[k], tweaks[k] = 0;
}

void hwk_xor_bytes_clearing(uint8_t *data, uint8_t *tweaks, size_t nbytes) {
    if (hwk_supported_paths() & HWK_PATH_VAES) {
        avx2_xor_clearing(data, tweaks, nbytes);
    } else {
        sse2_xor_clearing(data, tweaks, nbytes);
    }
    // The zeroed tweaks may be read through `tweaks`: the stores are never dead (as hwk_secure_zero).
    __asm__ volatile("" : : "r"(tweaks) : "memory");
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

void hwk_xor_bytes_clearing(uint8_t *data, uint8_t *tweaks, size_t nbytes) {
    for (size_t k = 0; k < nbytes; k++) data[k] ^= tweaks[k];
    hwk_secure_zero(tweaks, nbytes);
}

#endif
