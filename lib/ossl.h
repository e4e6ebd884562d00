/*
 * ossl.h - the OpenSSL functions tls.c and tls-client.c call, and how they
 * reach them: directly, or (the shared library, unless configured
 * --disable-lazy-openssl) through a table that ossl.c fills when TLS is
 * first needed.  Included by those two files and ossl.c only, after any
 * other OpenSSL header.
 *
 * The shared library is then not linked with libssl and libcrypto: a
 * server without TLS neither loads nor relocates them (about two thirds
 * of the dynamic linking at start, and their pages).  Each name below
 * becomes a macro for its slot in hsvr_ossl, so the two files call
 * OpenSSL as usual, macros such as SSL_CTX_set_mode (SSL_CTX_ctrl)
 * included.  A function called but missing here is an undefined symbol of
 * libhsvr.so, which tests/lazy-openssl.sh fails on; one listed but not
 * called costs a lookup at load.
 */
#ifndef HSVR_OSSL_H
#define HSVR_OSSL_H

/* Every header that declares a function of the list. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define HSVR_OSSL_FUNCTIONS(X) \
	X(ASN1_TIME_to_tm) \
	X(CRYPTO_free) \
	X(CRYPTO_memdup) \
	X(ERR_clear_error) \
	X(ERR_error_string_n) \
	X(ERR_peek_last_error) \
	X(ERR_reason_error_string) \
	X(EVP_DecryptInit_ex) \
	X(EVP_EncryptInit_ex) \
	X(EVP_MAC_CTX_set_params) \
	X(EVP_aes_256_cbc) \
	X(EVP_get_digestbyname) \
	X(OBJ_nid2sn) \
	X(OBJ_obj2nid) \
	X(OCSP_BASICRESP_free) \
	X(OCSP_CERTID_free) \
	X(OCSP_RESPONSE_free) \
	X(OCSP_SINGLERESP_get0_id) \
	X(OCSP_cert_to_id) \
	X(OCSP_check_validity) \
	X(OCSP_id_get0_info) \
	X(OCSP_resp_find_status) \
	X(OCSP_resp_get0) \
	X(OCSP_response_get1_basic) \
	X(OCSP_response_status) \
	X(OPENSSL_cleanse) \
	X(OPENSSL_sk_num) \
	X(OPENSSL_sk_value) \
	X(OSSL_PARAM_construct_end) \
	X(OSSL_PARAM_construct_octet_string) \
	X(OSSL_PARAM_construct_utf8_string) \
	X(RAND_bytes) \
	X(SSL_CIPHER_get_kx_nid) \
	X(SSL_CIPHER_get_name) \
	X(SSL_CIPHER_is_aead) \
	X(SSL_CTX_callback_ctrl) \
	X(SSL_CTX_check_private_key) \
	X(SSL_CTX_ctrl) \
	X(SSL_CTX_free) \
	X(SSL_CTX_get0_certificate) \
	X(SSL_CTX_get_ciphers) \
	X(SSL_CTX_load_verify_locations) \
	X(SSL_CTX_new) \
	X(SSL_CTX_set_alpn_protos) \
	X(SSL_CTX_set_alpn_select_cb) \
	X(SSL_CTX_set_cipher_list) \
	X(SSL_CTX_set_ciphersuites) \
	X(SSL_CTX_set_client_CA_list) \
	X(SSL_CTX_set_default_passwd_cb) \
	X(SSL_CTX_set_default_verify_paths) \
	X(SSL_CTX_set_num_tickets) \
	X(SSL_CTX_set_options) \
	X(SSL_CTX_set_session_id_context) \
	X(SSL_CTX_set_timeout) \
	X(SSL_CTX_set_tlsext_ticket_key_evp_cb) \
	X(SSL_CTX_set_verify) \
	X(SSL_CTX_use_PrivateKey_file) \
	X(SSL_CTX_use_certificate_chain_file) \
	X(SSL_ctrl) \
	X(SSL_do_handshake) \
	X(SSL_free) \
	X(SSL_get0_alpn_selected) \
	X(SSL_get0_param) \
	X(SSL_get1_peer_certificate) \
	X(SSL_get_current_cipher) \
	X(SSL_get_error) \
	X(SSL_get_state) \
	X(SSL_get_verify_result) \
	X(SSL_get_version) \
	X(SSL_has_pending) \
	X(SSL_load_client_CA_file) \
	X(SSL_new) \
	X(SSL_read_ex) \
	X(SSL_select_next_proto) \
	X(SSL_set1_host) \
	X(SSL_set_accept_state) \
	X(SSL_set_connect_state) \
	X(SSL_set_fd) \
	X(SSL_set_verify) \
	X(SSL_shutdown) \
	X(SSL_write_ex) \
	X(TLS_client_method) \
	X(TLS_server_method) \
	X(X509_NAME_oneline) \
	X(X509_VERIFY_PARAM_set1_ip_asc) \
	X(X509_check_issued) \
	X(X509_free) \
	X(X509_get_subject_name) \
	X(X509_verify_cert_error_string) \
	X(d2i_OCSP_RESPONSE)

/*
 * Make OpenSSL callable (load libssl and look every function up, once, in
 * the first caller; later calls wait for it and return its result): 0, or
 * -1 with why in buf (one line, "TLS: cannot load ...").  Linked directly,
 * always 0.  Call it before the privilege drop, --chroot and --seccomp
 * where it can be known that TLS will be needed.
 */
int hsvr_ossl_load(char *buf, size_t size);

/*
 * Loaded on demand only in the shared library (libtool compiles its
 * objects with -DPIC): the static one calls OpenSSL directly, so that a
 * static program, which cannot dlopen a library needing libc.so, keeps
 * TLS.  Sanitizer builds, never static, load it on demand in both
 * (configure).
 */
#if defined(HSVR_LAZY_OPENSSL) && \
    (defined(PIC) || defined(HSVR_LAZY_OPENSSL_STATIC))
#define HSVR_OSSL_DLOPEN 1
#endif

#ifdef HSVR_OSSL_DLOPEN
#define HSVR_OSSL_SLOT(name) __typeof__(name) *(name);
struct hsvr_ossl {
	HSVR_OSSL_FUNCTIONS(HSVR_OSSL_SLOT)
};
#undef HSVR_OSSL_SLOT
extern struct hsvr_ossl hsvr_ossl;

#ifndef HSVR_OSSL_TABLE         /* ossl.c names the slots themselves */
#define ASN1_TIME_to_tm (hsvr_ossl.ASN1_TIME_to_tm)
#define CRYPTO_free (hsvr_ossl.CRYPTO_free)
#define CRYPTO_memdup (hsvr_ossl.CRYPTO_memdup)
#define ERR_clear_error (hsvr_ossl.ERR_clear_error)
#define ERR_error_string_n (hsvr_ossl.ERR_error_string_n)
#define ERR_peek_last_error (hsvr_ossl.ERR_peek_last_error)
#define ERR_reason_error_string (hsvr_ossl.ERR_reason_error_string)
#define EVP_DecryptInit_ex (hsvr_ossl.EVP_DecryptInit_ex)
#define EVP_EncryptInit_ex (hsvr_ossl.EVP_EncryptInit_ex)
#define EVP_MAC_CTX_set_params (hsvr_ossl.EVP_MAC_CTX_set_params)
#define EVP_aes_256_cbc (hsvr_ossl.EVP_aes_256_cbc)
#define EVP_get_digestbyname (hsvr_ossl.EVP_get_digestbyname)
#define OBJ_nid2sn (hsvr_ossl.OBJ_nid2sn)
#define OBJ_obj2nid (hsvr_ossl.OBJ_obj2nid)
#define OCSP_BASICRESP_free (hsvr_ossl.OCSP_BASICRESP_free)
#define OCSP_CERTID_free (hsvr_ossl.OCSP_CERTID_free)
#define OCSP_RESPONSE_free (hsvr_ossl.OCSP_RESPONSE_free)
#define OCSP_SINGLERESP_get0_id (hsvr_ossl.OCSP_SINGLERESP_get0_id)
#define OCSP_cert_to_id (hsvr_ossl.OCSP_cert_to_id)
#define OCSP_check_validity (hsvr_ossl.OCSP_check_validity)
#define OCSP_id_get0_info (hsvr_ossl.OCSP_id_get0_info)
#define OCSP_resp_find_status (hsvr_ossl.OCSP_resp_find_status)
#define OCSP_resp_get0 (hsvr_ossl.OCSP_resp_get0)
#define OCSP_response_get1_basic (hsvr_ossl.OCSP_response_get1_basic)
#define OCSP_response_status (hsvr_ossl.OCSP_response_status)
#define OPENSSL_cleanse (hsvr_ossl.OPENSSL_cleanse)
#define OPENSSL_sk_num (hsvr_ossl.OPENSSL_sk_num)
#define OPENSSL_sk_value (hsvr_ossl.OPENSSL_sk_value)
#define OSSL_PARAM_construct_end (hsvr_ossl.OSSL_PARAM_construct_end)
#define OSSL_PARAM_construct_octet_string \
	(hsvr_ossl.OSSL_PARAM_construct_octet_string)
#define OSSL_PARAM_construct_utf8_string \
	(hsvr_ossl.OSSL_PARAM_construct_utf8_string)
#define RAND_bytes (hsvr_ossl.RAND_bytes)
#define SSL_CIPHER_get_kx_nid (hsvr_ossl.SSL_CIPHER_get_kx_nid)
#define SSL_CIPHER_get_name (hsvr_ossl.SSL_CIPHER_get_name)
#define SSL_CIPHER_is_aead (hsvr_ossl.SSL_CIPHER_is_aead)
#define SSL_CTX_callback_ctrl (hsvr_ossl.SSL_CTX_callback_ctrl)
#define SSL_CTX_check_private_key (hsvr_ossl.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (hsvr_ossl.SSL_CTX_ctrl)
#define SSL_CTX_free (hsvr_ossl.SSL_CTX_free)
#define SSL_CTX_get0_certificate (hsvr_ossl.SSL_CTX_get0_certificate)
#define SSL_CTX_get_ciphers (hsvr_ossl.SSL_CTX_get_ciphers)
#define SSL_CTX_load_verify_locations \
	(hsvr_ossl.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (hsvr_ossl.SSL_CTX_new)
#define SSL_CTX_set_alpn_protos (hsvr_ossl.SSL_CTX_set_alpn_protos)
#define SSL_CTX_set_alpn_select_cb (hsvr_ossl.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_cipher_list (hsvr_ossl.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites (hsvr_ossl.SSL_CTX_set_ciphersuites)
#define SSL_CTX_set_client_CA_list (hsvr_ossl.SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_default_passwd_cb \
	(hsvr_ossl.SSL_CTX_set_default_passwd_cb)
#define SSL_CTX_set_default_verify_paths \
	(hsvr_ossl.SSL_CTX_set_default_verify_paths)
#define SSL_CTX_set_num_tickets (hsvr_ossl.SSL_CTX_set_num_tickets)
#define SSL_CTX_set_options (hsvr_ossl.SSL_CTX_set_options)
#define SSL_CTX_set_session_id_context \
	(hsvr_ossl.SSL_CTX_set_session_id_context)
#define SSL_CTX_set_timeout (hsvr_ossl.SSL_CTX_set_timeout)
#define SSL_CTX_set_tlsext_ticket_key_evp_cb \
	(hsvr_ossl.SSL_CTX_set_tlsext_ticket_key_evp_cb)
#define SSL_CTX_set_verify (hsvr_ossl.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file (hsvr_ossl.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file \
	(hsvr_ossl.SSL_CTX_use_certificate_chain_file)
#define SSL_ctrl (hsvr_ossl.SSL_ctrl)
#define SSL_do_handshake (hsvr_ossl.SSL_do_handshake)
#define SSL_free (hsvr_ossl.SSL_free)
#define SSL_get0_alpn_selected (hsvr_ossl.SSL_get0_alpn_selected)
#define SSL_get0_param (hsvr_ossl.SSL_get0_param)
#define SSL_get1_peer_certificate (hsvr_ossl.SSL_get1_peer_certificate)
#define SSL_get_current_cipher (hsvr_ossl.SSL_get_current_cipher)
#define SSL_get_error (hsvr_ossl.SSL_get_error)
#define SSL_get_state (hsvr_ossl.SSL_get_state)
#define SSL_get_verify_result (hsvr_ossl.SSL_get_verify_result)
#define SSL_get_version (hsvr_ossl.SSL_get_version)
#define SSL_has_pending (hsvr_ossl.SSL_has_pending)
#define SSL_load_client_CA_file (hsvr_ossl.SSL_load_client_CA_file)
#define SSL_new (hsvr_ossl.SSL_new)
#define SSL_read_ex (hsvr_ossl.SSL_read_ex)
#define SSL_select_next_proto (hsvr_ossl.SSL_select_next_proto)
#define SSL_set1_host (hsvr_ossl.SSL_set1_host)
#define SSL_set_accept_state (hsvr_ossl.SSL_set_accept_state)
#define SSL_set_connect_state (hsvr_ossl.SSL_set_connect_state)
#define SSL_set_fd (hsvr_ossl.SSL_set_fd)
#define SSL_set_verify (hsvr_ossl.SSL_set_verify)
#define SSL_shutdown (hsvr_ossl.SSL_shutdown)
#define SSL_write_ex (hsvr_ossl.SSL_write_ex)
#define TLS_client_method (hsvr_ossl.TLS_client_method)
#define TLS_server_method (hsvr_ossl.TLS_server_method)
#define X509_NAME_oneline (hsvr_ossl.X509_NAME_oneline)
#define X509_VERIFY_PARAM_set1_ip_asc (hsvr_ossl.X509_VERIFY_PARAM_set1_ip_asc)
#define X509_check_issued (hsvr_ossl.X509_check_issued)
#define X509_free (hsvr_ossl.X509_free)
#define X509_get_subject_name (hsvr_ossl.X509_get_subject_name)
#define X509_verify_cert_error_string \
	(hsvr_ossl.X509_verify_cert_error_string)
#define d2i_OCSP_RESPONSE (hsvr_ossl.d2i_OCSP_RESPONSE)
#endif /* !HSVR_OSSL_TABLE */
#endif /* HSVR_OSSL_DLOPEN */

#endif /* HSVR_OSSL_H */
