// temporary
#include "internal.h"
#if HWK_X86_64
void vaes_ecb(const hwk_aes_key *key, const uint8_t *src, uint8_t *dst, size_t n, int d) { aesni_ecb(key, src, dst, n, d); }
void vaes_xts_lines(const hwk_xts_key *key, const hwk_line_job *job, int mode, int d) { aesni_xts_lines(key, job, mode, d); }
void vaes_xts_units(const hwk_xts_key *key, const hwk_unit_job *job, int d) { aesni_xts_units(key, job, d); }
#endif
