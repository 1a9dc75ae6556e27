//===----------------------------------------------------------------------===//
//
// hwkeys: CAESNI public entry points (caesni.h): argument handling and path dispatch.
//
// A bulk call names a path; VAES runs only if the CPU has it (hwk_supported_paths), otherwise the
// AES-NI kernels run (every path gives identical bytes). VAES also pays a fixed cost per call
// (broadcasting the key schedules to both lanes, wiping them afterwards) that AES-NI does not, so
// calls shorter than HWK_VAES_MIN_BYTES run the AES-NI kernels: measured on Zen 3, AES-NI is
// faster up to four lines per call and VAES from eight. Calling a bulk function or the key
// expansion on a CPU without AES-NI is host misuse (the Swift layer checks availablePaths first)
// and aborts. Zero counts are no-ops; a data-unit length below 16 bytes writes nothing.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if HWK_X86_64

/// Calls of fewer bytes than this run the AES-NI kernels even on the VAES path.
#define HWK_VAES_MIN_BYTES 512

/// 1 for VAES, 0 for AES-NI; aborts when AES-NI is missing.
static int hwk_use_vaes(uint32_t path, size_t bytes) {
    const uint32_t supported = hwk_supported_paths();
    if (!(supported & HWK_PATH_AESNI)) abort();
    return path == HWK_PATH_VAES && (supported & HWK_PATH_VAES) && bytes >= HWK_VAES_MIN_BYTES;
}

void hwk_aes_expand(hwk_aes_key *out, const uint8_t *key, size_t key_len) {
    if (key_len != 16 && key_len != 32) return;
    (void)hwk_use_vaes(HWK_PATH_AESNI, 0);
    aesni_expand(out, key, key_len);
}

static void hwk_ecb(uint32_t path, const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t n, int decrypt) {
    if (n == 0) return;
    if (hwk_use_vaes(path, 16 * n))
        vaes_ecb(key, src, dst, n, decrypt);
    else
        aesni_ecb(key, src, dst, n, decrypt);
}

static void hwk_lines(uint32_t path, const hwk_xts_key *key, const hwk_line_job *job, int mode, int decrypt) {
    if (job->n == 0) return;
    if (hwk_use_vaes(path, 64 * job->n))
        vaes_xts_lines(key, job, mode, decrypt);
    else
        aesni_xts_lines(key, job, mode, decrypt);
}

static void hwk_units(uint32_t path, const hwk_xts_key *key, const hwk_unit_job *job, int decrypt) {
    if (job->n == 0 || job->unit_len < 16) return;
    if (job->unit_len == 64) {
        // 64-byte units are lines: the line engine batches their tweaks across units.
        hwk_line_job lines = {.src = job->src, .dst = job->dst, .tweaks = job->tweaks, .first = job->first, .n = job->n};
        hwk_lines(path, key, &lines, job->tweaks ? HWK_LINES_RAW : HWK_LINES_CONSEC, decrypt);
        return;
    }
    if (hwk_use_vaes(path, job->unit_len * job->n))
        vaes_xts_units(key, job, decrypt);
    else
        aesni_xts_units(key, job, decrypt);
}

#else // no x86-64: no native path; HWCrypto uses its portable path and never calls these.

void hwk_aes_expand(hwk_aes_key *out, const uint8_t *key, size_t key_len) {
    (void)out, (void)key;
    if (key_len == 16 || key_len == 32) abort();
}
static void hwk_ecb(uint32_t path, const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t n, int decrypt) {
    (void)path, (void)key, (void)src, (void)dst, (void)decrypt;
    if (n) abort();
}
static void hwk_lines(uint32_t path, const hwk_xts_key *key, const hwk_line_job *job, int mode, int decrypt) {
    (void)path, (void)key, (void)mode, (void)decrypt;
    if (job->n) abort();
}
static void hwk_units(uint32_t path, const hwk_xts_key *key, const hwk_unit_job *job, int decrypt) {
    (void)path, (void)key, (void)decrypt;
    if (job->n && job->unit_len >= 16) abort();
}

#endif // HWK_X86_64

void hwk_xts_expand(hwk_xts_key *out, const uint8_t *data_key, const uint8_t *tweak_key, size_t key_len) {
    hwk_aes_expand(&out->data, data_key, key_len);
    hwk_aes_expand(&out->tweak, tweak_key, key_len);
}

// MARK: - ECB

void hwk_aes_encrypt_blocks(uint32_t path, const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks) {
    hwk_ecb(path, key, src, dst, nblocks, 0);
}
void hwk_aes_decrypt_blocks(uint32_t path, const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t nblocks) {
    hwk_ecb(path, key, src, dst, nblocks, 1);
}

// MARK: - Data units

void hwk_xts_encrypt_units(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst, size_t unit_len,
                           size_t nunits, const uint8_t *tweaks) {
    hwk_unit_job job = {.src = src, .dst = dst, .unit_len = unit_len, .n = nunits, .tweaks = tweaks};
    hwk_units(path, key, &job, 0);
}
void hwk_xts_decrypt_units(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst, size_t unit_len,
                           size_t nunits, const uint8_t *tweaks) {
    hwk_unit_job job = {.src = src, .dst = dst, .unit_len = unit_len, .n = nunits, .tweaks = tweaks};
    hwk_units(path, key, &job, 1);
}
void hwk_xts_encrypt_units_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               size_t unit_len, size_t nunits, uint64_t first_seq) {
    hwk_unit_job job = {.src = src, .dst = dst, .unit_len = unit_len, .n = nunits, .first = first_seq};
    hwk_units(path, key, &job, 0);
}
void hwk_xts_decrypt_units_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               size_t unit_len, size_t nunits, uint64_t first_seq) {
    hwk_unit_job job = {.src = src, .dst = dst, .unit_len = unit_len, .n = nunits, .first = first_seq};
    hwk_units(path, key, &job, 1);
}

// MARK: - The line engine

void hwk_xts_encrypt_lines(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                           const uint64_t *seqs, size_t nlines) {
    hwk_line_job job = {.src = src, .dst = dst, .seqs = seqs, .n = nlines};
    hwk_lines(path, key, &job, HWK_LINES_ARRAY, 0);
}
void hwk_xts_decrypt_lines(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                           const uint64_t *seqs, size_t nlines) {
    hwk_line_job job = {.src = src, .dst = dst, .seqs = seqs, .n = nlines};
    hwk_lines(path, key, &job, HWK_LINES_ARRAY, 1);
}
void hwk_xts_encrypt_lines_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               uint64_t first_seq, size_t nlines) {
    hwk_line_job job = {.src = src, .dst = dst, .first = first_seq, .n = nlines};
    hwk_lines(path, key, &job, HWK_LINES_CONSEC, 0);
}
void hwk_xts_decrypt_lines_seq(uint32_t path, const hwk_xts_key *key, const uint8_t *src, uint8_t *dst,
                               uint64_t first_seq, size_t nlines) {
    hwk_line_job job = {.src = src, .dst = dst, .first = first_seq, .n = nlines};
    hwk_lines(path, key, &job, HWK_LINES_CONSEC, 1);
}
void hwk_xts_encrypt_lines_iov(uint32_t path, const hwk_xts_key *key, const hwk_line_io *ios, size_t n) {
    hwk_line_job job = {.ios = ios, .n = n};
    hwk_lines(path, key, &job, HWK_LINES_IOV, 0);
}
void hwk_xts_decrypt_lines_iov(uint32_t path, const hwk_xts_key *key, const hwk_line_io *ios, size_t n) {
    hwk_line_job job = {.ios = ios, .n = n};
    hwk_lines(path, key, &job, HWK_LINES_IOV, 1);
}
