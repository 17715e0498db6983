// Package sha implements SHA-1, SHA-256 (FIPS 180-4) and HMAC (RFC 2104)
// for the control plane's message authentication and xTR-ID derivation.
//
// It replaces crypto/hmac, crypto/sha1 and crypto/sha256 in the binary:
// those pull in the Go FIPS 140 module, whose self-tests keep AES, SHA-3,
// SHA-512 and a DRBG linked — about 160 KB of lispd's MIPS build for two
// hash functions. The generic code here is what crypto/sha* runs on MIPS
// anyway (there is no assembly for it); the tests check it against crypto/*
// and the published test vectors.
package sha
