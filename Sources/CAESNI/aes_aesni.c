//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI AES-NI key expansion and multi-block ECB.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#if HWK_X86_64

// MARK: - Key expansion (FIPS 197 §5.2; AES-NI whitepaper Figures 24 and 26)

/// w[i..i+3] <- w[i-Nk..] with the running XOR of the previous round key's words, then XOR the
/// AESKEYGENASSIST result broadcast from the dword selected by `shuffle`.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE __m128i aesni_expand_step(__m128i key, __m128i assist) {
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, assist);
}

// AESKEYGENASSIST takes its round constant as an immediate, hence the macros.
#define EXPAND128(prev, rcon) aesni_expand_step(prev, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(prev, rcon), 0xff))
#define EXPAND256_EVEN(even, odd, rcon)                                                                        \
    aesni_expand_step(even, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(odd, rcon), 0xff))
#define EXPAND256_ODD(odd, even) aesni_expand_step(odd, _mm_shuffle_epi32(_mm_aeskeygenassist_si128(even, 0), 0xaa))

HWK_TARGET_AESNI static void aesni_expand128(__m128i *rk, const uint8_t *key) {
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = EXPAND128(rk[0], 0x01);
    rk[2] = EXPAND128(rk[1], 0x02);
    rk[3] = EXPAND128(rk[2], 0x04);
    rk[4] = EXPAND128(rk[3], 0x08);
    rk[5] = EXPAND128(rk[4], 0x10);
    rk[6] = EXPAND128(rk[5], 0x20);
    rk[7] = EXPAND128(rk[6], 0x40);
    rk[8] = EXPAND128(rk[7], 0x80);
    rk[9] = EXPAND128(rk[8], 0x1b);
    rk[10] = EXPAND128(rk[9], 0x36);
}

HWK_TARGET_AESNI static void aesni_expand256(__m128i *rk, const uint8_t *key) {
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
    rk[2] = EXPAND256_EVEN(rk[0], rk[1], 0x01);
    rk[3] = EXPAND256_ODD(rk[1], rk[2]);
    rk[4] = EXPAND256_EVEN(rk[2], rk[3], 0x02);
    rk[5] = EXPAND256_ODD(rk[3], rk[4]);
    rk[6] = EXPAND256_EVEN(rk[4], rk[5], 0x04);
    rk[7] = EXPAND256_ODD(rk[5], rk[6]);
    rk[8] = EXPAND256_EVEN(rk[6], rk[7], 0x08);
    rk[9] = EXPAND256_ODD(rk[7], rk[8]);
    rk[10] = EXPAND256_EVEN(rk[8], rk[9], 0x10);
    rk[11] = EXPAND256_ODD(rk[9], rk[10]);
    rk[12] = EXPAND256_EVEN(rk[10], rk[11], 0x20);
    rk[13] = EXPAND256_ODD(rk[11], rk[12]);
    rk[14] = EXPAND256_EVEN(rk[12], rk[13], 0x40);
}

/// Encryption schedule, then the equivalent inverse cipher's schedule (FIPS 197 §5.3.5): the
/// encryption round keys in reverse order with InvMixColumns (AESIMC) applied to all but the
/// first and last.
HWK_TARGET_AESNI void aesni_expand(hwk_aes_key *out, const uint8_t *key, size_t key_len) {
    __m128i rk[15];
    uint32_t rounds;
    if (key_len == 16) {
        aesni_expand128(rk, key);
        rounds = 10;
    } else {
        aesni_expand256(rk, key);
        rounds = 14;
    }
    __m128i *enc = (__m128i *)out->enc, *dec = (__m128i *)out->dec;
    for (uint32_t r = 0; r <= rounds; r++) enc[r] = rk[r];
    dec[0] = rk[rounds];
    for (uint32_t r = 1; r < rounds; r++) dec[r] = _mm_aesimc_si128(rk[rounds - r]);
    dec[rounds] = rk[0];
    for (uint32_t r = rounds + 1; r < 15; r++) enc[r] = dec[r] = _mm_setzero_si128();
    out->rounds = rounds;
    hwk_secure_zero(rk, sizeof rk);
}

// MARK: - ECB, eight blocks in flight

/// AESENC has a latency of about four cycles and a throughput of one or two per cycle, so eight
/// independent blocks keep the AES units busy (AES-NI whitepaper, "parallelizing").
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_ecb_kernel(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst,
                                                         size_t nblocks, int decrypt) {
    const __m128i *rk = (const __m128i *)(decrypt ? key->dec : key->enc);
    const uint32_t rounds = key->rounds;
    size_t i = 0;
    for (; i + 8 <= nblocks; i += 8) {
        __m128i x[8];
        for (int j = 0; j < 8; j++) x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + 16 * (i + j))), rk[0]);
        for (uint32_t r = 1; r < rounds; r++) {
            const __m128i k = rk[r];
            if (decrypt)
                for (int j = 0; j < 8; j++) x[j] = _mm_aesdec_si128(x[j], k);
            else
                for (int j = 0; j < 8; j++) x[j] = _mm_aesenc_si128(x[j], k);
        }
        const __m128i k = rk[rounds];
        for (int j = 0; j < 8; j++) {
            x[j] = decrypt ? _mm_aesdeclast_si128(x[j], k) : _mm_aesenclast_si128(x[j], k);
            _mm_storeu_si128((__m128i *)(dst + 16 * (i + j)), x[j]);
        }
    }
    for (; i < nblocks; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(src + 16 * i));
        x = decrypt ? hwk_aesni_decrypt1(key, x) : hwk_aesni_encrypt1(key, x);
        _mm_storeu_si128((__m128i *)(dst + 16 * i), x);
    }
}

HWK_TARGET_AESNI void aesni_ecb(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks,
                                int decrypt) {
    if (decrypt)
        aesni_ecb_kernel(key, src, dst, nblocks, 1);
    else
        aesni_ecb_kernel(key, src, dst, nblocks, 0);
}

#endif // HWK_X86_64
