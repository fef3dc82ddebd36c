# Parley: `make run` and `make test` are the whole set-up on Debian 12.
# Both first run scripts/deps.sh, which installs missing Debian packages.

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
CC ?= cc

# libh2o: the [webhook] listener's HTTP/1.1 and TLS (gateway/webhook/); it
# is built on libuv, so it serves on our loop. libsodium: Argon2id for
# per-person logins.
PKGS := libuv libcurl libcjson sqlite3 openssl inih libutf8proc libsodium libh2o
# snprintf into a fixed buffer is how we bound text; truncating there is the
# intent, so gcc's guesses about it (-Wformat-truncation) are not errors.
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wvla -Wno-format-truncation
STD := -std=c11 -D_POSIX_C_SOURCE=200809L
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libircclient (the relays) ships no pkg-config file in Debian.
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lircclient -lm

CFLAGS ?= -O2 -g
# Each folder under gateway/ and adapters/ is one subsystem; headers are
# included by name ("gw_store.h"), so every folder is on the include path.
SRC_DIRS := $(sort $(dir $(wildcard gateway/*.c gateway/*/*.c adapters/*.c adapters/*/*.c)))
INC_DIRS := $(sort gateway adapters $(patsubst %/,%,$(SRC_DIRS)))
ALL_CFLAGS = $(STD) $(WARN) $(CFLAGS) $(addprefix -I,$(INC_DIRS)) $(PKG_CFLAGS) -MMD -MP
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer

SRCS := $(wildcard gateway/*.c gateway/*/*.c adapters/*.c adapters/*/*.c)
C_FILES = $(wildcard gateway/*.[ch] gateway/*/*.[ch] adapters/*.[ch] adapters/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch])
LIB_SRCS := $(filter-out gateway/main.c,$(SRCS))
TEST_SRCS := $(wildcard tests/unit/test_*.c)
# C helpers only the test build links (a test adapter, loop drivers).
TESTLIB_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/unit/*.c))

B := build/normal
A := build/asan

OBJS = $(patsubst %.c,$(B)/%.o,$(SRCS))
LIB_OBJS = $(patsubst %.c,$(B)/%.o,$(LIB_SRCS))
ASAN_OBJS = $(patsubst %.c,$(A)/%.o,$(SRCS))
ASAN_LIB_OBJS = $(patsubst %.c,$(A)/%.o,$(LIB_SRCS))
UNIT_BINS = $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRCS))
ASAN_UNIT_BINS = $(patsubst tests/unit/%.c,$(A)/tests/%,$(TEST_SRCS))
TESTLIB_OBJS = $(patsubst %.c,$(B)/%.o,$(TESTLIB_SRCS))
ASAN_TESTLIB_OBJS = $(patsubst %.c,$(A)/%.o,$(TESTLIB_SRCS))

PYTEST := /usr/bin/python3 -m pytest
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all run test test-unit test-e2e test-bluesky bench install clean deps \
        asan lint format fuzz

all: parley

deps:
	@scripts/deps.sh

parley: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(A)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

$(A)/parley: $(ASAN_OBJS)
	$(CC) $(ASAN_FLAGS) -o $@ $(ASAN_OBJS) $(PKG_LIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIB_OBJS) $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

$(A)/tests/%: $(A)/tests/unit/%.o $(ASAN_LIB_OBJS) $(ASAN_TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_FLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

asan: $(A)/parley

run: deps
	@$(MAKE) --no-print-directory parley
	./parley -c gateway.conf

NPROC := $(shell nproc 2>/dev/null || echo 1)

# Every test twice: the normal build, then ASan+UBSan.
test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory -j$(NPROC) parley $(A)/parley $(UNIT_BINS) $(ASAN_UNIT_BINS)
	@$(MAKE) --no-print-directory lint test-unit test-e2e

test-unit:
	@set -e; for t in $(UNIT_BINS) $(ASAN_UNIT_BINS); do \
		echo "== $$t"; CK_FORK=yes $$t; done

# The mocks' own tests first: the end-to-end tests stand on them. The
# Bluesky tests need the local AT Protocol network that scripts/deps.sh test
# installs; here its absence is a failure, not a skip.
#
# The end-to-end tests spend their time waiting (for polls, back-offs,
# pacing), not computing: four workers (python3-pytest-xdist), a file each
# at a time, so that a file's module-wide servers (the AT Protocol network)
# start once. Every test binds its own ports and directories.
E2E_JOBS ?= 4
E2E_PAR = $(if $(filter-out 0 1,$(E2E_JOBS)),-n $(E2E_JOBS) --dist loadfile)
test-e2e:
	$(PYTEST) -q tests/mocktest
	PARLEY_NEED_ATPROTO=1 PARLEY_BIN=$(CURDIR)/parley $(PYTEST) -q $(E2E_PAR) tests/e2e
	PARLEY_NEED_ATPROTO=1 PARLEY_BIN=$(CURDIR)/$(A)/parley $(PYTEST) -q $(E2E_PAR) tests/e2e

# Only Bluesky, against the reference servers (PLC, PDS, AppView on
# 127.0.0.1), with both builds.
test-bluesky:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory parley $(A)/parley build/normal/tests/test_bluesky
	CK_FORK=yes build/normal/tests/test_bluesky
	$(PYTEST) -q tests/mocktest/test_mock_bsky_chat.py
	PARLEY_NEED_ATPROTO=1 PARLEY_BIN=$(CURDIR)/parley $(PYTEST) -q tests/e2e/test_bluesky.py
	PARLEY_NEED_ATPROTO=1 PARLEY_BIN=$(CURDIR)/$(A)/parley $(PYTEST) -q tests/e2e/test_bluesky.py

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory parley
	/usr/bin/python3 bench/run.py --parley $(CURDIR)/parley

# Formatting, Python mistakes (pyflakes) and banned calls (curl's checksrc
# idea, as a grep).
lint:
	@command -v clang-format >/dev/null || { echo "lint: clang-format not installed, skipped"; exit 0; }; \
	clang-format --dry-run --Werror $(C_FILES)
	/usr/bin/python3 -m pyflakes tests/e2e tests/mocktest tests/mockframe tests/*.py bench
	@! grep -nE '\b(sprintf|strcpy|strcat|strtok|atoi|gets|curl_easy_perform|usleep)\(' \
		$(filter %.c,$(SRCS)) || (echo "banned call above"; false)

format:
	clang-format -i $(C_FILES)

# The configuration is installed once and never overwritten: it is the
# user's from then on. Its state lives in /var/lib/parley, which the unit's
# StateDirectory= creates for the unprivileged user it runs as.
install: parley
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/parley \
		$(DESTDIR)$(SYSCONFDIR)/parley
	install -m 0755 parley $(DESTDIR)$(PREFIX)/bin/parley
	install -m 0644 doc/parley.8 $(DESTDIR)$(PREFIX)/share/man/man8/parley.8
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		doc/parley.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/parley.service
	sed 's|^state_dir = state  *|state_dir = /var/lib/parley |' gateway.conf \
		> $(DESTDIR)$(PREFIX)/share/doc/parley/gateway.conf.example
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/parley/gateway.conf ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/parley/gateway.conf (the new example is in $(PREFIX)/share/doc/parley)"; \
	else \
		install -m 0644 $(DESTDIR)$(PREFIX)/share/doc/parley/gateway.conf.example \
			$(DESTDIR)$(SYSCONFDIR)/parley/gateway.conf; \
	fi

clean:
	rm -rf build parley

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang into build/fuzz/
# and each run for FUZZ_SECONDS: new inputs go to build/fuzz/corpus/<target>,
# the seeds in tests/fuzz/corpus/<target> are only read, and a crash leaves
# its input in build/fuzz/. Not part of `make test`: it is slow by design.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 20
F := build/fuzz
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES = $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS))
FUZZ_BINS = $(addprefix $(F)/,$(FUZZ_NAMES))
FUZZ_LIB_OBJS = $(patsubst %.c,$(F)/%.o,$(LIB_SRCS))
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
           -fno-omit-frame-pointer
# gcc's -Wno-format-truncation is unknown to clang, and clang alone asks
# vprintf-style wrappers for a format attribute; the gcc build keeps
# checking both.
FUZZ_CFLAGS = $(STD) $(filter-out -Wno-format-truncation,$(WARN)) \
              -Wno-format-nonliteral -O1 -g $(FUZZ_SAN) \
              -fsanitize=fuzzer-no-link $(addprefix -I,$(INC_DIRS)) \
              $(PKG_CFLAGS) -MMD -MP
# Longest input worth trying, per target (libFuzzer guesses otherwise).
FUZZ_OPTS_fuzz_ircmsg := -max_len=9000
FUZZ_OPTS_fuzz_json := -max_len=4096
FUZZ_OPTS_fuzz_sse := -max_len=4096
FUZZ_OPTS_fuzz_mastodon := -max_len=16384
FUZZ_OPTS_fuzz_bluesky := -max_len=16384
FUZZ_OPTS_fuzz_linkedin := -max_len=16384
FUZZ_OPTS_fuzz_meta := -max_len=16384
# Seeds beyond tests/fuzz/corpus/<target>: the recorded JSON.
FUZZ_SEEDS_fuzz_mastodon := tests/fixtures/mastodon
FUZZ_SEEDS_fuzz_bluesky := tests/fixtures/bluesky
FUZZ_SEEDS_fuzz_linkedin := tests/fixtures/linkedin
FUZZ_SEEDS_fuzz_meta := tests/fixtures/meta

$(F)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

# An archive, so that each target links only the objects it needs.
$(F)/libparley.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(F)/fuzz_%: $(F)/tests/fuzz/fuzz_%.o $(F)/libparley.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@$(MAKE) --no-print-directory -j1 $(addprefix fuzz-run-,$(FUZZ_NAMES))

# Made on the way to fuzz-run-%, and kept: they are not by-products.
.SECONDARY: $(FUZZ_BINS) $(FUZZ_SRCS:%.c=$(F)/%.o)

fuzz-run-%: $(F)/%
	@mkdir -p $(F)/corpus/$*
	@echo "== $* for $(FUZZ_SECONDS) s"
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -artifact_prefix=$(F)/$*- \
		$(FUZZ_OPTS_$*) $(F)/corpus/$* $(wildcard tests/fuzz/corpus/$*) \
		$(FUZZ_SEEDS_$*)

-include $(OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(FUZZ_LIB_OBJS:.o=.d) \
         $(FUZZ_SRCS:%.c=$(F)/%.d)
