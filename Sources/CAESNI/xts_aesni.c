//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI AES-XTS with AES-NI (XMM): the line engine and data units of any length.
//
// XTS-AES (IEEE Std 1619-2018 §5.3): the tweak input i of a data unit is encrypted with the tweak
// key K2, T_0 = E_K2(i); block j of the unit uses T_j = T_0 * alpha^j and is encrypted as
// C_j = E_K1(P_j ^ T_j) ^ T_j. Decryption uses D_K1 with the same tweaks (§5.4).
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#if HWK_X86_64

// MARK: - The line engine

/// Pass 1 for up to HWK_LINE_CHUNK lines starting at `base`: the tweak inputs of eight lines at a
/// time go through K2 together (eight independent AESENC chains), then each T_0 is expanded to the
/// line's four block tweaks T_0..T_3 in `tw` (4 per line, in block order).
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_line_tweaks(const hwk_aes_key *k2, const hwk_line_job *job, int mode,
                                                          size_t base, size_t count, __m128i *tw) {
    const __m128i *rk = (const __m128i *)k2->enc;
    const uint32_t rounds = k2->rounds;
    size_t l = 0;
    for (; l + 8 <= count; l += 8) {
        __m128i t[8];
        for (int j = 0; j < 8; j++) t[j] = _mm_xor_si128(hwk_line_tweak_input(job, mode, base + l + j), rk[0]);
        for (uint32_t r = 1; r < rounds; r++) {
            const __m128i k = rk[r];
            for (int j = 0; j < 8; j++) t[j] = _mm_aesenc_si128(t[j], k);
        }
        for (int j = 0; j < 8; j++) {
            __m128i t0 = _mm_aesenclast_si128(t[j], rk[rounds]);
            __m128i t1 = hwk_xts_mul_alpha(t0), t2 = hwk_xts_mul_alpha(t1), t3 = hwk_xts_mul_alpha(t2);
            __m128i *out = tw + 4 * (l + j);
            out[0] = t0, out[1] = t1, out[2] = t2, out[3] = t3;
        }
    }
    for (; l < count; l++) {
        __m128i t0 = hwk_aesni_encrypt1(k2, hwk_line_tweak_input(job, mode, base + l));
        __m128i t1 = hwk_xts_mul_alpha(t0), t2 = hwk_xts_mul_alpha(t1), t3 = hwk_xts_mul_alpha(t2);
        __m128i *out = tw + 4 * l;
        out[0] = t0, out[1] = t1, out[2] = t2, out[3] = t3;
    }
}

/// Pass 2: two lines (eight blocks) per iteration through K1. The tweak is folded into the first
/// and last round keys: x ^ T ^ rk[0] before the rounds, and AESENCLAST(x, rk[last] ^ T) =
/// AESENCLAST(x, rk[last]) ^ T after them (the last round ends with AddRoundKey), which keeps the
/// final XOR off the critical path. The same holds for AESDECLAST.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_line_data(const hwk_aes_key *k1, const hwk_line_job *job, int mode,
                                                        size_t base, size_t count, const __m128i *tw, int decrypt) {
    const __m128i *rk = (const __m128i *)(decrypt ? k1->dec : k1->enc);
    const uint32_t rounds = k1->rounds;
    const __m128i first = rk[0], last = rk[rounds];
    size_t l = 0;
    for (; l + 2 <= count; l += 2) {
        const uint8_t *s0 = hwk_line_src(job, mode, base + l), *s1 = hwk_line_src(job, mode, base + l + 1);
        uint8_t *d0 = hwk_line_dst(job, mode, base + l), *d1 = hwk_line_dst(job, mode, base + l + 1);
        const __m128i *t = tw + 4 * l;
        __m128i x[8];
        for (int j = 0; j < 4; j++) {
            x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s0 + 16 * j)), _mm_xor_si128(t[j], first));
            x[4 + j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s1 + 16 * j)), _mm_xor_si128(t[4 + j], first));
        }
        for (uint32_t r = 1; r < rounds; r++) {
            const __m128i k = rk[r];
            if (decrypt)
                for (int j = 0; j < 8; j++) x[j] = _mm_aesdec_si128(x[j], k);
            else
                for (int j = 0; j < 8; j++) x[j] = _mm_aesenc_si128(x[j], k);
        }
        for (int j = 0; j < 8; j++) {
            const __m128i k = _mm_xor_si128(t[j], last);
            x[j] = decrypt ? _mm_aesdeclast_si128(x[j], k) : _mm_aesenclast_si128(x[j], k);
        }
        for (int j = 0; j < 4; j++) {
            _mm_storeu_si128((__m128i *)(d0 + 16 * j), x[j]);
            _mm_storeu_si128((__m128i *)(d1 + 16 * j), x[4 + j]);
        }
    }
    if (l < count) {
        const uint8_t *s = hwk_line_src(job, mode, base + l);
        uint8_t *d = hwk_line_dst(job, mode, base + l);
        const __m128i *t = tw + 4 * l;
        __m128i x[4];
        for (int j = 0; j < 4; j++)
            x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s + 16 * j)), _mm_xor_si128(t[j], first));
        for (uint32_t r = 1; r < rounds; r++) {
            const __m128i k = rk[r];
            if (decrypt)
                for (int j = 0; j < 4; j++) x[j] = _mm_aesdec_si128(x[j], k);
            else
                for (int j = 0; j < 4; j++) x[j] = _mm_aesenc_si128(x[j], k);
        }
        for (int j = 0; j < 4; j++) {
            const __m128i k = _mm_xor_si128(t[j], last);
            x[j] = decrypt ? _mm_aesdeclast_si128(x[j], k) : _mm_aesenclast_si128(x[j], k);
            _mm_storeu_si128((__m128i *)(d + 16 * j), x[j]);
        }
    }
}

HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_lines_kernel(const hwk_xts_key *key, const hwk_line_job *job, int mode,
                                                           int decrypt) {
    __m128i tw[4 * HWK_LINE_CHUNK];
    for (size_t base = 0; base < job->n; base += HWK_LINE_CHUNK) {
        size_t count = job->n - base < HWK_LINE_CHUNK ? job->n - base : HWK_LINE_CHUNK;
        aesni_line_tweaks(&key->tweak, job, mode, base, count, tw);
        aesni_line_data(&key->data, job, mode, base, count, tw, decrypt);
    }
    hwk_secure_zero(tw, sizeof tw);
}

// One instantiation per (mode, direction): the mode and direction fold away at compile time.
#define LINES_FN(name, mode, decrypt)                                                                          \
    HWK_TARGET_AESNI static void name(const hwk_xts_key *key, const hwk_line_job *job) {                       \
        aesni_lines_kernel(key, job, mode, decrypt);                                                           \
    }
LINES_FN(aesni_lines_array_enc, HWK_LINES_ARRAY, 0)
LINES_FN(aesni_lines_array_dec, HWK_LINES_ARRAY, 1)
LINES_FN(aesni_lines_consec_enc, HWK_LINES_CONSEC, 0)
LINES_FN(aesni_lines_consec_dec, HWK_LINES_CONSEC, 1)
LINES_FN(aesni_lines_iov_enc, HWK_LINES_IOV, 0)
LINES_FN(aesni_lines_iov_dec, HWK_LINES_IOV, 1)
LINES_FN(aesni_lines_raw_enc, HWK_LINES_RAW, 0)
LINES_FN(aesni_lines_raw_dec, HWK_LINES_RAW, 1)
#undef LINES_FN

void aesni_xts_lines(const hwk_xts_key *key, const hwk_line_job *job, int mode, int decrypt) {
    static void (*const table[4][2])(const hwk_xts_key *, const hwk_line_job *) = {
        {aesni_lines_array_enc, aesni_lines_array_dec},
        {aesni_lines_consec_enc, aesni_lines_consec_dec},
        {aesni_lines_iov_enc, aesni_lines_iov_dec},
        {aesni_lines_raw_enc, aesni_lines_raw_dec},
    };
    table[mode][decrypt != 0](key, job);
}

// MARK: - Data units of any length >= 16

/// One data unit with encrypted tweak T_0 = `t`: eight blocks per iteration, tweaks advanced by
/// alpha along the way, then ciphertext stealing if the length is not a multiple of 16.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_unit(const hwk_aes_key *k1, __m128i t, const uint8_t *src, uint8_t *dst,
                                                   size_t len, int decrypt) {
    const __m128i *rk = (const __m128i *)(decrypt ? k1->dec : k1->enc);
    const uint32_t rounds = k1->rounds;
    const size_t tail = len % 16;
    // With stealing, the last full block is processed together with the tail.
    const size_t nblocks = len / 16 - (tail ? 1 : 0);
    size_t i = 0;
    for (; i + 8 <= nblocks; i += 8) {
        __m128i tj[8], x[8];
        tj[0] = t;
        for (int j = 1; j < 8; j++) tj[j] = hwk_xts_mul_alpha(tj[j - 1]);
        t = hwk_xts_mul_alpha(tj[7]);
        for (int j = 0; j < 8; j++)
            x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + 16 * (i + j))), _mm_xor_si128(tj[j], rk[0]));
        for (uint32_t r = 1; r < rounds; r++) {
            const __m128i k = rk[r];
            if (decrypt)
                for (int j = 0; j < 8; j++) x[j] = _mm_aesdec_si128(x[j], k);
            else
                for (int j = 0; j < 8; j++) x[j] = _mm_aesenc_si128(x[j], k);
        }
        for (int j = 0; j < 8; j++) {
            const __m128i k = _mm_xor_si128(tj[j], rk[rounds]);
            x[j] = decrypt ? _mm_aesdeclast_si128(x[j], k) : _mm_aesenclast_si128(x[j], k);
            _mm_storeu_si128((__m128i *)(dst + 16 * (i + j)), x[j]);
        }
    }
    for (; i < nblocks; i++) {
        __m128i x = hwk_aesni_xex1(k1, _mm_loadu_si128((const __m128i *)(src + 16 * i)), t, decrypt);
        _mm_storeu_si128((__m128i *)(dst + 16 * i), x);
        t = hwk_xts_mul_alpha(t);
    }
    if (tail) hwk_aesni_steal(k1, src + 16 * i, dst + 16 * i, tail, t, hwk_xts_mul_alpha(t), decrypt);
}

/// Units in groups of eight: the eight tweak inputs go through K2 together, then each unit runs.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_units_kernel(const hwk_xts_key *key, const hwk_unit_job *job,
                                                           int decrypt) {
    const __m128i *rk2 = (const __m128i *)key->tweak.enc;
    const uint32_t rounds2 = key->tweak.rounds;
    for (size_t u = 0; u < job->n; u += 8) {
        const size_t group = job->n - u < 8 ? job->n - u : 8;
        __m128i t[8];
        for (size_t j = 0; j < 8; j++) {
            __m128i in = _mm_setzero_si128();
            if (j < group)
                in = job->tweaks ? _mm_loadu_si128((const __m128i *)(job->tweaks + 16 * (u + j)))
                                 : _mm_cvtsi64_si128((long long)(job->first + (uint64_t)(u + j)));
            t[j] = _mm_xor_si128(in, rk2[0]);
        }
        for (uint32_t r = 1; r < rounds2; r++)
            for (int j = 0; j < 8; j++) t[j] = _mm_aesenc_si128(t[j], rk2[r]);
        for (int j = 0; j < 8; j++) t[j] = _mm_aesenclast_si128(t[j], rk2[rounds2]);
        for (size_t j = 0; j < group; j++) {
            const size_t offset = (u + j) * job->unit_len;
            aesni_unit(&key->data, t[j], job->src + offset, job->dst + offset, job->unit_len, decrypt);
        }
    }
}

HWK_TARGET_AESNI static void aesni_units_enc(const hwk_xts_key *key, const hwk_unit_job *job) {
    aesni_units_kernel(key, job, 0);
}
HWK_TARGET_AESNI static void aesni_units_dec(const hwk_xts_key *key, const hwk_unit_job *job) {
    aesni_units_kernel(key, job, 1);
}

void aesni_xts_units(const hwk_xts_key *key, const hwk_unit_job *job, int decrypt) {
    if (decrypt)
        aesni_units_dec(key, job);
    else
        aesni_units_enc(key, job);
}

#endif // HWK_X86_64
