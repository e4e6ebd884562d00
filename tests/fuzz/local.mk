# tests/fuzz/local.mk - fuzzing the http example with libFuzzer (make check, make fuzz) and its limits against the real server.
#
# The fuzz targets are built by $(CLANG), which configure found able to
# link -fsanitize=fuzzer, not by $(CC): hence the explicit rules.
#   fuzz-http          examples/http-parser.c, fed whole and in pieces
#   fuzz-http-server   examples/http.c on a stand-in for libhsvr
#   fuzz-proxy         lib/proxy.c, the PROXY protocol header parser
#                      (seeds in tests/fuzz/corpus/proxy/)
# tests/fuzz/fuzz.sh replays the committed seeds (tests/fuzz/corpus/http/)
# through both, then fuzzes each: make check for FUZZ_CHECK_TIME seconds
# with new inputs in a temporary directory, make fuzz for FUZZ_TIME seconds
# each, keeping new inputs in tests/fuzz/corpus-TARGET/ of the build
# directory.  To add those to the committed seeds, minimised:
#   tests/fuzz/fuzz-http -merge=1 $(srcdir)/tests/fuzz/corpus/http tests/fuzz/corpus-fuzz-http
# tests/fuzz/http-limits.sh: the real hsvr-http answers oversized and
# malformed requests with 414, 431 or 400 and closes, and still serves.

FUZZ_TESTS = tests/fuzz/fuzz.sh tests/fuzz/http-limits.sh
TESTS += $(FUZZ_TESTS)
EXTRA_DIST += $(FUZZ_TESTS) tests/fuzz/fuzz-http.c \
	tests/fuzz/fuzz-http-server.c tests/fuzz/http.dict tests/fuzz/corpus \
	tests/fuzz/fuzz-proxy.c
AM_TESTS_ENVIRONMENT += HSVR_FUZZER='$(HSVR_FUZZER)'; FUZZ_TIME='$(FUZZ_CHECK_TIME)'; \
	export HSVR_FUZZER FUZZ_TIME;

FUZZ_CHECK_TIME = 15
FUZZ_TIME = 300
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
# Wrap-around and lossy conversions are no undefined behaviour, but in the
# parser they would be bugs, so they abort there too.
FUZZ_PARSER_CFLAGS = $(FUZZ_CFLAGS) \
	-fsanitize=unsigned-integer-overflow,implicit-conversion
FUZZ_CC = $(CLANG) $(FUZZ_WARN_CFLAGS) -I$(srcdir)/include \
	-I$(srcdir)/examples
FUZZ_OBJS = tests/fuzz/fuzz-http.o tests/fuzz/fuzz-http-server.o \
	tests/fuzz/http-parser.o tests/fuzz/http.o \
	tests/fuzz/fuzz-proxy.o tests/fuzz/proxy.o
FUZZ_PROGS = tests/fuzz/fuzz-http$(EXEEXT) tests/fuzz/fuzz-http-server$(EXEEXT) \
	tests/fuzz/fuzz-proxy$(EXEEXT)

if HAVE_FUZZER
check_SCRIPTS = $(FUZZ_PROGS)
endif
CLEANFILES += $(FUZZ_OBJS) $(FUZZ_PROGS) tests/fuzz/*-crash-* \
	tests/fuzz/*-timeout-* tests/fuzz/*-oom-* tests/fuzz/*-leak-* \
	tests/fuzz/*-slow-unit-* tests/fuzz/*.fuzz.log

tests/fuzz/http-parser.o: $(srcdir)/examples/http-parser.c \
		$(srcdir)/examples/http-parser.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_PARSER_CFLAGS) -c -o $@ $(srcdir)/examples/http-parser.c
tests/fuzz/http.o: $(srcdir)/examples/http.c $(srcdir)/examples/http-parser.h \
		$(srcdir)/include/hsvr.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $(srcdir)/examples/http.c
tests/fuzz/fuzz-http.o: $(srcdir)/tests/fuzz/fuzz-http.c \
		$(srcdir)/examples/http-parser.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $(srcdir)/tests/fuzz/fuzz-http.c
tests/fuzz/fuzz-http-server.o: $(srcdir)/tests/fuzz/fuzz-http-server.c \
		$(srcdir)/examples/http-parser.h $(srcdir)/include/hsvr.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $(srcdir)/tests/fuzz/fuzz-http-server.c

tests/fuzz/fuzz-http$(EXEEXT): tests/fuzz/fuzz-http.o tests/fuzz/http-parser.o
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_PARSER_CFLAGS) -o $@ tests/fuzz/fuzz-http.o \
	    tests/fuzz/http-parser.o
tests/fuzz/fuzz-http-server$(EXEEXT): tests/fuzz/fuzz-http-server.o \
		tests/fuzz/http.o tests/fuzz/http-parser.o
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_PARSER_CFLAGS) -o $@ \
	    tests/fuzz/fuzz-http-server.o tests/fuzz/http.o tests/fuzz/http-parser.o

# lib/proxy.c as it is, with lib/'s private header (and config.h).
FUZZ_LIB_CC = $(CLANG) $(FUZZ_WARN_CFLAGS) -I$(top_builddir) -I$(srcdir)/lib \
	-I$(srcdir)/include $(LIBEVENT_CFLAGS)
tests/fuzz/proxy.o: $(srcdir)/lib/proxy.c $(srcdir)/lib/hsvr-int.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(FUZZ_LIB_CC) $(FUZZ_PARSER_CFLAGS) -c -o $@ $(srcdir)/lib/proxy.c
tests/fuzz/fuzz-proxy.o: $(srcdir)/tests/fuzz/fuzz-proxy.c \
		$(srcdir)/lib/hsvr-int.h
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(FUZZ_LIB_CC) $(FUZZ_CFLAGS) -c -o $@ $(srcdir)/tests/fuzz/fuzz-proxy.c
tests/fuzz/fuzz-proxy$(EXEEXT): tests/fuzz/fuzz-proxy.o tests/fuzz/proxy.o
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_PARSER_CFLAGS) -o $@ tests/fuzz/fuzz-proxy.o \
	    tests/fuzz/proxy.o

FUZZ_RUN = top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
	HSVR_FUZZER='$(HSVR_FUZZER)' $(SHELL) $(srcdir)/tests/fuzz/fuzz.sh

.PHONY: fuzz
if HAVE_FUZZER
fuzz: $(FUZZ_PROGS)
	FUZZ_TIME='$(FUZZ_TIME)' FUZZ_CORPUS=tests/fuzz $(FUZZ_RUN)
else
fuzz:
	@echo "make fuzz: configure found no clang that links -fsanitize=fuzzer (set CLANG=...)" >&2
	@exit 1
endif

distclean-local:
	rm -rf tests/fuzz/corpus-fuzz-http tests/fuzz/corpus-fuzz-http-server \
	    tests/fuzz/corpus-fuzz-proxy
