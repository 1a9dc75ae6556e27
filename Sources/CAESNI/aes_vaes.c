//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI multi-block ECB with VAES: two blocks per YMM register, eight registers in flight.
//
//===----------------------------------------------------------------------===//

#include "vaes.h"

#if HWK_X86_64

HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_ecb_kernel(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst,
                                                       size_t nblocks, int decrypt) {
    __m256i rk[15];
    vaes_broadcast_keys(rk, decrypt ? key->dec : key->enc, key->rounds);
    const uint32_t rounds = key->rounds;
    size_t i = 0;
    for (; i + 16 <= nblocks; i += 16) {
        __m256i x[8];
        for (int j = 0; j < 8; j++) x[j] = _mm256_xor_si256(vaes_load(src + 16 * i + 32 * j), rk[0]);
        for (uint32_t r = 1; r < rounds; r++) vaes_round8(x, rk[r], decrypt);
        for (int j = 0; j < 8; j++) vaes_store(dst + 16 * i + 32 * j, vaes_last(x[j], rk[rounds], decrypt));
    }
    for (; i + 2 <= nblocks; i += 2) {
        __m256i x = _mm256_xor_si256(vaes_load(src + 16 * i), rk[0]);
        for (uint32_t r = 1; r < rounds; r++) x = vaes_round(x, rk[r], decrypt);
        vaes_store(dst + 16 * i, vaes_last(x, rk[rounds], decrypt));
    }
    if (i < nblocks) {
        __m128i x = _mm_loadu_si128((const __m128i *)(src + 16 * i));
        x = decrypt ? hwk_aesni_decrypt1(key, x) : hwk_aesni_encrypt1(key, x);
        _mm_storeu_si128((__m128i *)(dst + 16 * i), x);
    }
    hwk_secure_zero(rk, sizeof rk);
}

HWK_TARGET_VAES void vaes_ecb(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks, int decrypt) {
    if (decrypt)
        vaes_ecb_kernel(key, src, dst, nblocks, 1);
    else
        vaes_ecb_kernel(key, src, dst, nblocks, 0);
}

#endif // HWK_X86_64
