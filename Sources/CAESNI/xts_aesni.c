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

/// T_0 of a line to its four block tweaks T_0..T_3 (T_j = T_0 * alpha^j), stored in block order.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_expand_line_tweaks(__m128i t0, __m128i *out) {
    const __m128i t1 = hwk_xts_mul_alpha(t0), t2 = hwk_xts_mul_alpha(t1);
    out[0] = t0, out[1] = t1, out[2] = t2, out[3] = hwk_xts_mul_alpha(t2);
}

/// Four blocks of a line through K1 with tweaks `t`. The tweak is folded into the first and last
/// round keys: x ^ T ^ rk[0] before the rounds, and AESENCLAST(x, rk[last] ^ T) =
/// AESENCLAST(x, rk[last]) ^ T after them (the last round ends with AddRoundKey), which keeps the
/// final XOR off the critical path. The same holds for AESDECLAST.
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_line_data1(const __m128i *rk, uint32_t rounds, const uint8_t *s,
                                                         uint8_t *d, const __m128i *t, int decrypt) {
    __m128i x[4];
    for (int j = 0; j < 4; j++)
        x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s + 16 * j)), _mm_xor_si128(t[j], rk[0]));
    for (uint32_t r = 1; r < rounds; r++)
        for (int j = 0; j < 4; j++) x[j] = decrypt ? _mm_aesdec_si128(x[j], rk[r]) : _mm_aesenc_si128(x[j], rk[r]);
    for (int j = 0; j < 4; j++) {
        const __m128i k = _mm_xor_si128(t[j], rk[rounds]);
        _mm_storeu_si128((__m128i *)(d + 16 * j), decrypt ? _mm_aesdeclast_si128(x[j], k) : _mm_aesenclast_si128(x[j], k));
    }
}

/// The line engine, software-pipelined over groups of two lines (eight blocks in flight).
///
/// The K2 work (tweak encryption, then three doublings per line) is light on AES and heavy on
/// other vector operations; the K1 work is almost all AES. Done in separate passes, each leaves
/// execution ports idle, so iteration g overlaps three independent jobs: the K1 rounds of group g,
/// the K2 rounds of group g+2 (two more blocks in the same round loop), and the expansion of group
/// g+1's tweaks, whose T_0 came out of K2 in iteration g-1. Expanded tweaks alternate between two
/// 128-byte slots. Past the last group the look-ahead indices are clamped (harmless repeated work).
HWK_TARGET_AESNI HWK_ALWAYS_INLINE void aesni_lines_kernel(const hwk_xts_key *key, const hwk_line_job *job, int mode,
                                                           int decrypt, uint32_t rounds) {
    enum { G = 2 };
    const __m128i *rk1 = (const __m128i *)(decrypt ? key->data.dec : key->data.enc);
    const __m128i *rk2 = (const __m128i *)key->tweak.enc;
    __m128i tw[2][4 * G];
    const size_t groups = job->n / G;
    if (groups > 0) {
        // Prologue: K2 of groups 0 and 1; expand group 0.
        const size_t g1 = groups > 1 ? G : 0;
        __m128i k2[4] = {hwk_line_tweak_input(job, mode, 0), hwk_line_tweak_input(job, mode, 1),
                         hwk_line_tweak_input(job, mode, g1), hwk_line_tweak_input(job, mode, g1 + 1)};
        for (int j = 0; j < 4; j++) k2[j] = _mm_xor_si128(k2[j], rk2[0]);
        for (uint32_t r = 1; r < rounds; r++)
            for (int j = 0; j < 4; j++) k2[j] = _mm_aesenc_si128(k2[j], rk2[r]);
        for (int j = 0; j < 4; j++) k2[j] = _mm_aesenclast_si128(k2[j], rk2[rounds]);
        aesni_expand_line_tweaks(k2[0], tw[0]);
        aesni_expand_line_tweaks(k2[1], tw[0] + 4);
        __m128i pending[2] = {k2[2], k2[3]};

        for (size_t g = 0; g < groups; g++) {
            // Stage 1: start K2 for group g+2.
            const size_t ahead = G * (g + 2 < groups ? g + 2 : groups - 1);
            __m128i a0 = _mm_xor_si128(hwk_line_tweak_input(job, mode, ahead), rk2[0]);
            __m128i a1 = _mm_xor_si128(hwk_line_tweak_input(job, mode, ahead + 1), rk2[0]);
            // Stage 2: expand group g+1's tweaks into the other slot.
            __m128i *next = tw[(g + 1) & 1];
            aesni_expand_line_tweaks(pending[0], next);
            aesni_expand_line_tweaks(pending[1], next + 4);
            // Stage 3: group g through K1, with K2 of group g+2 in the same rounds.
            const __m128i *t = tw[g & 1];
            const uint8_t *s0 = hwk_line_src(job, mode, G * g), *s1 = hwk_line_src(job, mode, G * g + 1);
            __m128i x[8];
            for (int j = 0; j < 4; j++) {
                x[j] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s0 + 16 * j)), _mm_xor_si128(t[j], rk1[0]));
                x[4 + j] =
                    _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s1 + 16 * j)), _mm_xor_si128(t[4 + j], rk1[0]));
            }
            for (uint32_t r = 1; r < rounds; r++) {
                const __m128i k = rk1[r];
                if (decrypt)
                    for (int j = 0; j < 8; j++) x[j] = _mm_aesdec_si128(x[j], k);
                else
                    for (int j = 0; j < 8; j++) x[j] = _mm_aesenc_si128(x[j], k);
                a0 = _mm_aesenc_si128(a0, rk2[r]), a1 = _mm_aesenc_si128(a1, rk2[r]);
            }
            pending[0] = _mm_aesenclast_si128(a0, rk2[rounds]);
            pending[1] = _mm_aesenclast_si128(a1, rk2[rounds]);
            uint8_t *d0 = hwk_line_dst(job, mode, G * g), *d1 = hwk_line_dst(job, mode, G * g + 1);
            for (int j = 0; j < 8; j++) {
                const __m128i k = _mm_xor_si128(t[j], rk1[rounds]);
                x[j] = decrypt ? _mm_aesdeclast_si128(x[j], k) : _mm_aesenclast_si128(x[j], k);
                _mm_storeu_si128((__m128i *)((j < 4 ? d0 : d1) + 16 * (j & 3)), x[j]);
            }
        }
    }
    if (job->n % G) {
        const size_t l = job->n - 1;
        aesni_expand_line_tweaks(hwk_aesni_encrypt1(&key->tweak, hwk_line_tweak_input(job, mode, l)), tw[0]);
        aesni_line_data1(rk1, rounds, hwk_line_src(job, mode, l), hwk_line_dst(job, mode, l), tw[0], decrypt);
    }
    hwk_secure_zero(tw, sizeof tw);
}

// One instantiation per (mode, direction, key size): mode and direction fold away at compile time
// and the round loops unroll completely.
#define LINES_FN(name, mode, decrypt)                                                                          \
    HWK_TARGET_AESNI static void name(const hwk_xts_key *key, const hwk_line_job *job) {                       \
        if (key->data.rounds == 10)                                                                            \
            aesni_lines_kernel(key, job, mode, decrypt, 10);                                                   \
        else                                                                                                   \
            aesni_lines_kernel(key, job, mode, decrypt, 14);                                                   \
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
    for (size_t u = 0; u < job->n; u += 8) {
        const size_t group = job->n - u < 8 ? job->n - u : 8;
        __m128i t[8];
        hwk_aesni_unit_tweaks(&key->tweak, job, u, group, t);
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
