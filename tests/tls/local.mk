# tests/tls/local.mk - placeholder, owned by the TLS-tests author
