# tests/daemon/local.mk - placeholder, owned by the daemon-tests author
