//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI AES-XTS with VAES (YMM): the line engine and data units of any length.
//
// Same structure as xts_aesni.c with two blocks per register. A 64-byte line is two registers,
// [P0 P1] and [P2 P3], with tweaks [T0 T1] and [T2 T3]. Key schedules are broadcast to both lanes
// once per call.
//
//===----------------------------------------------------------------------===//

#include "vaes.h"

#if HWK_X86_64

// MARK: - The line engine

/// Tweak inputs of lines l and l+1 in the two lanes of one register.
HWK_TARGET_VAES HWK_ALWAYS_INLINE __m256i vaes_line_tweak_inputs(const hwk_line_job *job, int mode, size_t l) {
    switch (mode) {
    case HWK_LINES_ARRAY: {
        // [s_l s_l+1] -> qwords [s_l 0 s_l+1 0]
        __m256i pair = _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(job->seqs + l)));
        return _mm256_unpacklo_epi64(_mm256_permute4x64_epi64(pair, 0x10), _mm256_setzero_si256());
    }
    case HWK_LINES_CONSEC:
        return _mm256_set_epi64x(0, (long long)(job->first + (uint64_t)l + 1), 0, (long long)(job->first + (uint64_t)l));
    case HWK_LINES_IOV: return _mm256_set_epi64x(0, (long long)job->ios[l + 1].seq, 0, (long long)job->ios[l].seq);
    default:
        return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(job->tweaks + 16 * l))),
                                       _mm_loadu_si128((const __m128i *)(job->tweaks + 16 * l + 16)), 1);
    }
}

/// From [T0(l) T0(l+1)] (the encrypted tweak inputs of two lines) to both lines' four block tweaks
/// T0..T3, stored in block order: [T0 T1] and [T2 T3] of line l, then of line l+1.
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_expand_line_tweaks(__m256i t0, __m128i *out) {
    __m256i t1 = vaes_mul_alpha(t0), t2 = vaes_mul_alpha(t1), t3 = vaes_mul_alpha(t2);
    __m256i *o = (__m256i *)out;
    _mm256_store_si256(o + 0, _mm256_permute2x128_si256(t0, t1, 0x20));
    _mm256_store_si256(o + 1, _mm256_permute2x128_si256(t2, t3, 0x20));
    _mm256_store_si256(o + 2, _mm256_permute2x128_si256(t0, t1, 0x31));
    _mm256_store_si256(o + 3, _mm256_permute2x128_si256(t2, t3, 0x31));
}

/// One line at a time, for the (at most three) lines after the last whole group: K2 on the tweak
/// input, expansion, then the line's two registers through K1.
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_lines_tail(const __m256i *rk1, const __m256i *rk2, uint32_t rounds,
                                                       const hwk_line_job *job, int mode, size_t l, int decrypt) {
    for (; l < job->n; l++) {
        // Lane 1 repeats line l's input; only lane 0's tweaks are used.
        __m256i t = _mm256_broadcastsi128_si256(hwk_line_tweak_input(job, mode, l));
        t = _mm256_xor_si256(t, rk2[0]);
        for (uint32_t r = 1; r < rounds; r++) t = _mm256_aesenc_epi128(t, rk2[r]);
        _Alignas(32) __m128i tw[8];
        vaes_expand_line_tweaks(_mm256_aesenclast_epi128(t, rk2[rounds]), tw);
        const __m256i t01 = _mm256_load_si256((const __m256i *)tw), t23 = _mm256_load_si256((const __m256i *)tw + 1);
        const uint8_t *s = hwk_line_src(job, mode, l);
        uint8_t *d = hwk_line_dst(job, mode, l);
        __m256i x0 = _mm256_xor_si256(vaes_load(s), _mm256_xor_si256(t01, rk1[0]));
        __m256i x1 = _mm256_xor_si256(vaes_load(s + 32), _mm256_xor_si256(t23, rk1[0]));
        for (uint32_t r = 1; r < rounds; r++) x0 = vaes_round(x0, rk1[r], decrypt), x1 = vaes_round(x1, rk1[r], decrypt);
        vaes_store(d, vaes_last(x0, _mm256_xor_si256(t01, rk1[rounds]), decrypt));
        vaes_store(d + 32, vaes_last(x1, _mm256_xor_si256(t23, rk1[rounds]), decrypt));
        hwk_secure_zero(tw, sizeof tw);
    }
}

/// The line engine, software-pipelined over groups of four lines (eight registers of data).
///
/// The K2 pass (tweak encryption, then expansion of each T_0 to T_0..T_3 with doublings and lane
/// permutes) is light on AES and heavy on shuffles; the K1 pass is almost all AES. Run one after
/// the other over many lines, each leaves half of the execution ports idle. So iteration g does
/// three independent things at once: the K1 rounds of group g (eight registers), the K2 rounds of
/// group g+2 (two more registers in the same round loop), and the expansion of group g+1, whose T_0
/// values came out of K2 in iteration g-1. Expanded tweaks alternate between two 256-byte slots.
/// Past the last group, the look-ahead indices are clamped to it (harmless repeated work).
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_lines_kernel(const hwk_xts_key *key, const hwk_line_job *job, int mode,
                                                         int decrypt, uint32_t rounds) {
    enum { G = 4 };
    __m256i rk1[15], rk2[15];
    _Alignas(32) __m128i tw[2][4 * G];
    vaes_broadcast_keys(rk1, decrypt ? key->data.dec : key->data.enc, rounds);
    vaes_broadcast_keys(rk2, key->tweak.enc, rounds);
    const size_t groups = job->n / G;
    if (groups > 0) {
        // Prologue: K2 of groups 0 and 1; expand group 0.
        __m256i pending[2], first[2];
        first[0] = _mm256_xor_si256(vaes_line_tweak_inputs(job, mode, 0), rk2[0]);
        first[1] = _mm256_xor_si256(vaes_line_tweak_inputs(job, mode, 2), rk2[0]);
        const size_t g1 = groups > 1 ? G : 0;
        pending[0] = _mm256_xor_si256(vaes_line_tweak_inputs(job, mode, g1), rk2[0]);
        pending[1] = _mm256_xor_si256(vaes_line_tweak_inputs(job, mode, g1 + 2), rk2[0]);
        for (uint32_t r = 1; r < rounds; r++) {
            first[0] = _mm256_aesenc_epi128(first[0], rk2[r]), first[1] = _mm256_aesenc_epi128(first[1], rk2[r]);
            pending[0] = _mm256_aesenc_epi128(pending[0], rk2[r]), pending[1] = _mm256_aesenc_epi128(pending[1], rk2[r]);
        }
        vaes_expand_line_tweaks(_mm256_aesenclast_epi128(first[0], rk2[rounds]), tw[0]);
        vaes_expand_line_tweaks(_mm256_aesenclast_epi128(first[1], rk2[rounds]), tw[0] + 8);
        pending[0] = _mm256_aesenclast_epi128(pending[0], rk2[rounds]);
        pending[1] = _mm256_aesenclast_epi128(pending[1], rk2[rounds]);

        for (size_t g = 0; g < groups; g++) {
            // Stage 1: start K2 for group g+2.
            const size_t ahead = G * (g + 2 < groups ? g + 2 : groups - 1);
            __m256i k2[2];
            k2[0] = _mm256_xor_si256(vaes_line_tweak_inputs(job, mode, ahead), rk2[0]);
            k2[1] = _mm256_xor_si256(vaes_line_tweak_inputs(job, mode, ahead + 2), rk2[0]);
            // Stage 2: expand group g+1's tweaks into the other slot.
            __m128i *next = tw[(g + 1) & 1];
            vaes_expand_line_tweaks(pending[0], next);
            vaes_expand_line_tweaks(pending[1], next + 8);
            // Stage 3: group g through K1, with K2 of group g+2 in the same rounds.
            const __m256i *t = (const __m256i *)tw[g & 1];
            __m256i x[8];
            for (int j = 0; j < G; j++) {
                const uint8_t *s = hwk_line_src(job, mode, G * g + j);
                x[2 * j] = _mm256_xor_si256(vaes_load(s), _mm256_xor_si256(t[2 * j], rk1[0]));
                x[2 * j + 1] = _mm256_xor_si256(vaes_load(s + 32), _mm256_xor_si256(t[2 * j + 1], rk1[0]));
            }
            for (uint32_t r = 1; r < rounds; r++) {
                vaes_round8(x, rk1[r], decrypt);
                k2[0] = _mm256_aesenc_epi128(k2[0], rk2[r]), k2[1] = _mm256_aesenc_epi128(k2[1], rk2[r]);
            }
            pending[0] = _mm256_aesenclast_epi128(k2[0], rk2[rounds]);
            pending[1] = _mm256_aesenclast_epi128(k2[1], rk2[rounds]);
            for (int j = 0; j < G; j++) {
                uint8_t *d = hwk_line_dst(job, mode, G * g + j);
                vaes_store(d, vaes_last(x[2 * j], _mm256_xor_si256(t[2 * j], rk1[rounds]), decrypt));
                vaes_store(d + 32, vaes_last(x[2 * j + 1], _mm256_xor_si256(t[2 * j + 1], rk1[rounds]), decrypt));
            }
        }
    }
    vaes_lines_tail(rk1, rk2, rounds, job, mode, G * groups, decrypt);
    hwk_secure_zero(tw, sizeof tw);
    hwk_secure_zero(rk1, sizeof rk1);
    hwk_secure_zero(rk2, sizeof rk2);
}

// One instantiation per (mode, direction, key size): mode and direction fold away at compile time
// and the round loops unroll completely.
#define LINES_FN(name, mode, decrypt)                                                                          \
    HWK_TARGET_VAES static void name(const hwk_xts_key *key, const hwk_line_job *job) {                        \
        if (key->data.rounds == 10)                                                                            \
            vaes_lines_kernel(key, job, mode, decrypt, 10);                                                    \
        else                                                                                                   \
            vaes_lines_kernel(key, job, mode, decrypt, 14);                                                    \
    }
LINES_FN(vaes_lines_array_enc, HWK_LINES_ARRAY, 0)
LINES_FN(vaes_lines_array_dec, HWK_LINES_ARRAY, 1)
LINES_FN(vaes_lines_consec_enc, HWK_LINES_CONSEC, 0)
LINES_FN(vaes_lines_consec_dec, HWK_LINES_CONSEC, 1)
LINES_FN(vaes_lines_iov_enc, HWK_LINES_IOV, 0)
LINES_FN(vaes_lines_iov_dec, HWK_LINES_IOV, 1)
LINES_FN(vaes_lines_raw_enc, HWK_LINES_RAW, 0)
LINES_FN(vaes_lines_raw_dec, HWK_LINES_RAW, 1)
#undef LINES_FN

void vaes_xts_lines(const hwk_xts_key *key, const hwk_line_job *job, int mode, int decrypt) {
    static void (*const table[4][2])(const hwk_xts_key *, const hwk_line_job *) = {
        {vaes_lines_array_enc, vaes_lines_array_dec},
        {vaes_lines_consec_enc, vaes_lines_consec_dec},
        {vaes_lines_iov_enc, vaes_lines_iov_dec},
        {vaes_lines_raw_enc, vaes_lines_raw_dec},
    };
    table[mode][decrypt != 0](key, job);
}

// MARK: - Data units of any length >= 16

/// One data unit with encrypted tweak T_0 = `t`. Sixteen blocks per iteration in eight registers
/// whose tweaks [T_2j T_2j+1] advance by alpha^16 each iteration; the remaining blocks take their
/// tweaks from a small table; then ciphertext stealing if the length is not a multiple of 16.
HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_unit(const hwk_aes_key *k1, const __m256i *rk, uint32_t rounds, __m128i t,
                                                 const uint8_t *src, uint8_t *dst, size_t len, int decrypt) {
    const size_t tail = len % 16;
    const size_t nblocks = len / 16 - (tail ? 1 : 0);
    // Tweaks of the blocks after the wide loop: up to 15 remaining blocks plus T_m for stealing.
    _Alignas(32) __m128i tt[18];
    size_t i = 0, have = 1;
    tt[0] = t;
    if (nblocks >= 16) {
        __m256i tw[8];
        tw[0] = _mm256_inserti128_si256(_mm256_castsi128_si256(t), hwk_xts_mul_alpha(t), 1);
        for (int j = 1; j < 8; j++) tw[j] = vaes_mul_alpha_k(tw[0], 2 * j);
        for (; i + 16 <= nblocks; i += 16) {
            __m256i x[8];
            for (int j = 0; j < 8; j++)
                x[j] = _mm256_xor_si256(vaes_load(src + 16 * i + 32 * j), _mm256_xor_si256(tw[j], rk[0]));
            for (uint32_t r = 1; r < rounds; r++) vaes_round8(x, rk[r], decrypt);
            for (int j = 0; j < 8; j++) {
                vaes_store(dst + 16 * i + 32 * j, vaes_last(x[j], _mm256_xor_si256(tw[j], rk[rounds]), decrypt));
                tw[j] = vaes_mul_alpha16(tw[j]);
            }
        }
        for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)(tt + 2 * j), tw[j]);
        have = 16;
    }
    const size_t rest = nblocks - i, need = rest + (tail ? 2 : 0);
    for (; have < need; have++) tt[have] = hwk_xts_mul_alpha(tt[have - 1]);
    size_t k = 0;
    for (; k + 2 <= rest; k += 2) {
        __m256i tk = _mm256_load_si256((const __m256i *)(tt + k));
        __m256i x = _mm256_xor_si256(vaes_load(src + 16 * (i + k)), _mm256_xor_si256(tk, rk[0]));
        for (uint32_t r = 1; r < rounds; r++) x = vaes_round(x, rk[r], decrypt);
        vaes_store(dst + 16 * (i + k), vaes_last(x, _mm256_xor_si256(tk, rk[rounds]), decrypt));
    }
    if (k < rest) {
        __m128i x = hwk_aesni_xex1(k1, _mm_loadu_si128((const __m128i *)(src + 16 * (i + k))), tt[k], decrypt);
        _mm_storeu_si128((__m128i *)(dst + 16 * (i + k)), x);
        k++;
    }
    if (tail) hwk_aesni_steal(k1, src + 16 * (i + k), dst + 16 * (i + k), tail, tt[k], tt[k + 1], decrypt);
    hwk_secure_zero(tt, sizeof tt);
}

HWK_TARGET_VAES HWK_ALWAYS_INLINE void vaes_units_kernel(const hwk_xts_key *key, const hwk_unit_job *job, int decrypt,
                                                         uint32_t rounds) {
    __m256i rk[15];
    vaes_broadcast_keys(rk, decrypt ? key->data.dec : key->data.enc, rounds);
    for (size_t u = 0; u < job->n; u += 8) {
        // The tweak inputs of up to eight units go through K2 together.
        const size_t group = job->n - u < 8 ? job->n - u : 8;
        __m128i t[8];
        hwk_aesni_unit_tweaks(&key->tweak, job, u, group, t);
        for (size_t j = 0; j < group; j++) {
            const size_t offset = (u + j) * job->unit_len;
            vaes_unit(&key->data, rk, rounds, t[j], job->src + offset, job->dst + offset, job->unit_len, decrypt);
        }
    }
    hwk_secure_zero(rk, sizeof rk);
}

HWK_TARGET_VAES static void vaes_units_enc(const hwk_xts_key *key, const hwk_unit_job *job) {
    if (key->data.rounds == 10)
        vaes_units_kernel(key, job, 0, 10);
    else
        vaes_units_kernel(key, job, 0, 14);
}
HWK_TARGET_VAES static void vaes_units_dec(const hwk_xts_key *key, const hwk_unit_job *job) {
    if (key->data.rounds == 10)
        vaes_units_kernel(key, job, 1, 10);
    else
        vaes_units_kernel(key, job, 1, 14);
}

void vaes_xts_units(const hwk_xts_key *key, const hwk_unit_job *job, int decrypt) {
    if (decrypt)
        vaes_units_dec(key, job);
    else
        vaes_units_enc(key, job);
}

#endif // HWK_X86_64
