/* Everything cryptographic goes through libgcrypt: AES-256-GCM for the
 * cookie, SHA-256 for stored IDs and key identifiers, and its random
 * generators.  Cipher handles are opened and keyed once per process. */
#include <string.h>

#include "crumb-private.h"

int
crumb_crypto_init(void)
{
	/* Respect an application that initialised libgcrypt itself. */
	if (gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P))
		return CRUMB_OK;
	if (gcry_check_version("1.8.0") == NULL)
		return CRUMB_E_CRYPTO;
	/* Secure memory needs mlock rights a CGI program rarely has. */
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	return CRUMB_OK;
}

void
crumb_random(void *buf, size_t n)
{
	gcry_randomize(buf, n, GCRY_STRONG_RANDOM);
}

void
crumb_nonce(void *buf, size_t n)
{
	gcry_create_nonce(buf, n);
}

void
crumb_sha256(const void *in, size_t n, uint8_t out[32])
{
	gcry_md_hash_buffer(GCRY_MD_SHA256, out, in, n);
}

int
crumb_key_init(crumb_key *k, const unsigned char *key, size_t len)
{
	static const char label[] = "crumb key id v1";
	uint8_t buf[sizeof(label) + CRUMB_KEY_LEN], digest[32];

	if (len != CRUMB_KEY_LEN)
		return CRUMB_E_INVAL;
	/* The identifier is a hash of the key, so a cookie from another
	 * deployment is recognised as foreign before any decryption. */
	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), key, len);
	crumb_sha256(buf, sizeof(buf), digest);
	memcpy(k->id, digest, CRUMB_KEYID_LEN);
	if (gcry_cipher_open(&k->hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0))
		return CRUMB_E_CRYPTO;
	if (gcry_cipher_setkey(k->hd, key, len)) {
		gcry_cipher_close(k->hd);
		k->hd = NULL;
		return CRUMB_E_CRYPTO;
	}
	return CRUMB_OK;
}

void
crumb_key_release(crumb_key *k)
{
	if (k->hd != NULL)
		gcry_cipher_close(k->hd);
	k->hd = NULL;
}

static int
start(crumb_key *k, const uint8_t *nonce, const uint8_t *aad, size_t aadlen)
{
	if (gcry_cipher_reset(k->hd) ||
	    gcry_cipher_setiv(k->hd, nonce, CRUMB_NONCE_LEN) ||
	    gcry_cipher_authenticate(k->hd, aad, aadlen))
		return CRUMB_E_CRYPTO;
	return CRUMB_OK;
}

int
crumb_key_seal(crumb_key *k, const uint8_t *nonce, const uint8_t *aad,
    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	if (start(k, nonce, aad, aadlen) != CRUMB_OK ||
	    gcry_cipher_final(k->hd) ||
	    gcry_cipher_encrypt(k->hd, out, len, in, len) ||
	    gcry_cipher_gettag(k->hd, out + len, CRUMB_TAG_LEN))
		return CRUMB_E_CRYPTO;
	return CRUMB_OK;
}

int
crumb_key_open(crumb_key *k, const uint8_t *nonce, const uint8_t *aad,
    size_t aadlen, const uint8_t *in, size_t len, uint8_t *out)
{
	/* checktag compares in constant time.  out == in decrypts in
	 * place (libgcrypt's form for that is a NULL input). */
	if (start(k, nonce, aad, aadlen) != CRUMB_OK ||
	    gcry_cipher_final(k->hd) ||
	    gcry_cipher_decrypt(k->hd, out, len, out == in ? NULL : in,
	    out == in ? 0 : len) ||
	    gcry_cipher_checktag(k->hd, in + len, CRUMB_TAG_LEN))
		return CRUMB_E_CRYPTO;
	return CRUMB_OK;
}
