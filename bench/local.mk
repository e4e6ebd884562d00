# bench/local.mk - placeholder, owned by the benchmark author
