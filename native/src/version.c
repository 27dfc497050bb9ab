#include "percepnet.h"

#define PN_VERSION "0.1.0"

/* The rates a state takes, the one list: pn_rates() and PN_ERR_RATE's message are made of it. */
#define RATES 8000, 16000, 24000, 32000, 44100, 48000
#define TEXT_(...) #__VA_ARGS__
#define TEXT(...) TEXT_(__VA_ARGS__)

int pn_abi_version(void) { return PN_ABI_VERSION; }

int pn_feature_version(void) { return PN_FEATURE_VERSION; }

const char *pn_version_string(void) { return PN_VERSION; }

const int *pn_rates(void)
{
    static const int rates[] = {RATES, 0};
    return rates;
}

const char *pn_strerror(int err)
{
    switch (err) {
    case PN_OK: return "ok";
    case PN_ERR_ARG: return "invalid argument";
    case PN_ERR_NOMEM: return "out of memory";
    case PN_ERR_IO: return "cannot read model file";
    case PN_ERR_MODEL_FORMAT: return "model file is malformed or truncated";
    case PN_ERR_MODEL_VERSION: return "model file format version not supported by this build";
    case PN_ERR_MODEL_CHECKSUM: return "model file checksum mismatch (corrupt file)";
    case PN_ERR_MODEL_SHAPE: return "model layer shapes do not match the kernel's features/outputs";
    case PN_ERR_SIMD: return "SIMD path not available on this build or CPU";
    case PN_ERR_MODEL_FEATURES: return "model was trained for another feature version or sample rate";
    case PN_ERR_RATE: return "sample rate not supported (" TEXT(RATES) " Hz)";
    default: return "unknown error";
    }
}
