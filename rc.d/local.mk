# rc.d/local.mk - placeholder, owned by the service-scripts author
