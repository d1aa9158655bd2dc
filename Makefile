# Ferry: one GNU Makefile for the whole tree.
#
#   make            build everything into build/release
#   make test       install missing deps, build with ASan+UBSan, run all tests
#   make demo       install missing deps, build, run the four-agency demo
#   make bench      build optimised, print figures beside the machine's limits
#   make tsan       build the unit tests of threaded code with ThreadSanitizer
#                   (build/tsan; make test builds and runs them too)
#   make fuzz       build libFuzzer targets and run each for FUZZ_SECONDS
#   make model      check the spin models of the delivery protocol (tests/model)
#   make install    install the programs, man pages, example configurations
#                   and systemd units under $(DESTDIR)$(PREFIX); the example
#                   configurations also into $(SYSCONFDIR)/ferry, never
#                   over a file already there
#
# Quiet unless V=1.  Warnings are errors when WERROR=1 (CI and make test).

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
CC ?= cc
SAN ?= 0
WERROR ?= 0
# Fault injection points (FERRY_FAULT, proto/ferry.h): in the ASan+UBSan
# build of make test (SAN=1) and the build/soak build of make soak, never
# in a release build nor the ThreadSanitizer build.
FAULTS ?= $(SAN)
FUZZ_SECONDS ?= 60

ifeq ($(SAN),1)
BUILD ?= build/asan
else ifeq ($(SAN),thread)
BUILD ?= build/tsan
else
BUILD ?= build/release
endif

PKGS := libzmq libsodium lmdb msgpack jansson inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Wshadow \
	-Wno-unused-parameter -fstack-protector-strong -MMD -MP -Iproto -Iagent \
	-Irelay -Icli $(PKG_CFLAGS)
ifeq ($(WERROR),1)
override CFLAGS += -Werror
endif
ifeq ($(FAULTS),1)
override CFLAGS += -DFERRY_FAULTS
endif
ifeq ($(SAN),1)
override CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
# ThreadSanitizer (make tsan): the unit tests of the code that runs on
# more than one thread of its own (proto/workers.c, the relay's checks on
# it).  libzmq, libsodium and LMDB are not instrumented: only Ferry's own
# threads and the memory they share are checked.
ifeq ($(SAN),thread)
override CFLAGS += -O1 -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif
LDLIBS += $(PKG_LIBS) -lpthread -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

PROTO_SRCS := $(wildcard proto/*.c)
FERRYCLI_SRCS := agent/ferry.c agent/ferry_inbox.c agent/ferry_records.c
AGENTLIB_SRCS := $(filter-out agent/ferry-agent.c $(FERRYCLI_SRCS),$(wildcard agent/*.c))
RELAY_SRCS := $(wildcard relay/*.c)
RELAYLIB_SRCS := $(filter-out relay/main.c,$(RELAY_SRCS))
KEYS_SRCS := $(wildcard keys/*.c)
AUDIT_SRCS := $(wildcard audit/*.c)
# The command-line conventions every program shares (cli/cli.h).
CLI_SRCS := $(wildcard cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
BENCH_SRCS := $(wildcard tests/bench/bench_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBFERRY := $(BUILD)/libferry.a
LIBAGENT := $(BUILD)/libagent.a
LIBRELAY := $(BUILD)/librelay.a
LIBTEST := $(BUILD)/libtest.a
PROGS := $(BUILD)/ferry-relay $(BUILD)/ferry-agent $(BUILD)/ferry \
	$(BUILD)/ferry-keys $(BUILD)/ferry-audit
UNITS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
BENCHES := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

.PHONY: all deps test demo bench fuzz model soak clean install check-build units \
	tsan tsan-units
all: $(PROGS)

deps:
	@scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBFERRY): $(call obj,$(PROTO_SRCS))
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBAGENT): $(call obj,$(AGENTLIB_SRCS))
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The relay but its main(): linked into ferry-relay and the unit tests.
$(LIBRELAY): $(call obj,$(RELAYLIB_SRCS))
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBTEST): $(call obj,$(TESTLIB_SRCS))
	@[ "$(V)" = 1 ] || echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

LINK = @[ "$(V)" = 1 ] || echo "  LD      $@"; $(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ferry-relay: $(call obj,relay/main.c $(CLI_SRCS)) $(LIBRELAY) \
    $(LIBFERRY)
	$(Q)$(LINK)
$(BUILD)/ferry-agent: $(call obj,agent/ferry-agent.c $(CLI_SRCS)) \
    $(LIBAGENT) $(LIBFERRY)
	$(Q)$(LINK)
$(BUILD)/ferry: $(call obj,$(FERRYCLI_SRCS) $(CLI_SRCS)) $(LIBAGENT) $(LIBFERRY)
	$(Q)$(LINK)
$(BUILD)/ferry-keys: $(call obj,$(KEYS_SRCS) $(CLI_SRCS)) $(LIBFERRY)
	$(Q)$(LINK)
$(BUILD)/ferry-audit: $(call obj,$(AUDIT_SRCS) $(CLI_SRCS)) $(LIBFERRY)
	$(Q)$(LINK)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBTEST) $(LIBRELAY) \
    $(LIBAGENT) $(LIBFERRY)
	@mkdir -p $(dir $@)
	$(Q)$(LINK)

# test_agent_cost counts the LMDB reads of the agent (status, metrics):
# every mdb_get and mdb_cursor_get goes through its wrappers; and the
# SHA-256 passes of a submission (ferry_sha256) and its random draws
# (randombytes_buf and randombytes_uniform called by Ferry's code).
$(BUILD)/tests/test_agent_cost: LDFLAGS += -Wl,--wrap=mdb_get \
	-Wl,--wrap=mdb_cursor_get -Wl,--wrap=ferry_sha256 \
	-Wl,--wrap=randombytes_buf -Wl,--wrap=randombytes_uniform

# test_log counts the LMDB reads of batch proofs (mdb_get).
$(BUILD)/tests/test_log: LDFLAGS += -Wl,--wrap=mdb_get

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIBTEST) $(LIBAGENT) $(LIBFERRY)
	@mkdir -p $(dir $@)
	$(Q)$(LINK)

# Test-only programs (tests/tools/*.c) that scenario tests run.
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBFERRY)
	@mkdir -p $(dir $@)
	$(Q)$(LINK)

units: $(UNITS) $(TOOLS)

# The units whose code runs on threads of its own (make tsan), and a
# planted race that must be reported, so that a ThreadSanitizer that
# cannot see races on this machine fails the run instead of passing it.
TSAN_UNITS := test_workers test_relay_batch
tsan-units: $(addprefix $(BUILD)/tests/,$(TSAN_UNITS)) $(BUILD)/tests/tsan_canary
$(BUILD)/tests/tsan_canary: $(BUILD)/obj/tests/tsan/tsan_canary.o
	@mkdir -p $(dir $@)
	$(Q)$(LINK)
tsan: deps
	$(Q)$(MAKE) --no-print-directory SAN=thread WERROR=1 tsan-units
	$(Q)tests/run.sh build/asan build/release tsan/

# make test: everything built with AddressSanitizer and UBSan, warnings as
# errors, then the runner prints "N passed, N failed".
# The benchmarks are built too (not run): they must not rot unseen.
test: deps
	$(Q)$(MAKE) --no-print-directory SAN=1 WERROR=1 all units
	$(Q)$(MAKE) --no-print-directory SAN=thread WERROR=1 tsan-units
	$(Q)$(MAKE) --no-print-directory SAN=0 WERROR=1 all $(BENCHES)
	$(Q)tests/run.sh build/asan build/release

demo: deps
	$(Q)$(MAKE) --no-print-directory SAN=0 all
	$(Q)tests/demo.sh build/release

# make soak (issue 13): kill -9 soak of FERRY_SOAK_N (default 10,000)
# referrals among four agencies on the real disk, with fault points armed
# at restarts and `ferry send` rerun as the same command; outside make
# test (about 90 s for 10,000 here).  Its own build, optimised, with fault
# points.
soak: deps
	$(Q)$(MAKE) --no-print-directory SAN=0 FAULTS=1 BUILD=build/soak all
	$(Q)FERRY_SOAK_N=$${FERRY_SOAK_N:-10000} FERRY_SOAK_DISK=1 \
		FERRY_SOAK_RERUN=1 FERRY_SOAK_FAULTS=1 \
		FERRY_BIN=$(CURDIR)/build/soak FERRY_SOAK_BIN=$(CURDIR)/build/soak \
		FERRY_ROOT=$(CURDIR) bash tests/scenario/soak_kill.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory SAN=0 all $(BENCHES) $(TOOLS)
	$(Q)tests/bench/run.sh $(BUILD)

# libFuzzer targets: clang with the fuzzer runtime from libclang-rt-14-dev.
FUZZ_BUILD := build/fuzz
FUZZ_CFLAGS := -g -O1 -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Iproto -Iagent \
	-fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
FUZZERS := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
$(FUZZ_BUILD)/%: tests/fuzz/%.c $(PROTO_SRCS) $(AGENTLIB_SRCS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread -lm
fuzz: deps $(FUZZERS)
	$(Q)tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The Promela models of the delivery protocol (one relay, two relays),
# checked with spin (docs/model.md); MODEL_FLAGS=--deep for the larger
# budgets.
model: deps
	$(Q)tests/model/run.sh $(MODEL_FLAGS); r=$$?; \
	tests/model/relays.sh $(MODEL_FLAGS) && exit $$r

# The units go to $(PREFIX)/lib/systemd/system (systemd reads /usr/lib and
# /usr/local/lib alike), their ExecStart= naming $(PREFIX)/bin; local
# changes belong in /etc/systemd/system (systemctl edit), which a later
# install leaves alone.  The configurations are copied to
# $(SYSCONFDIR)/ferry only where no file of that name exists: an edited
# configuration is never replaced (the pristine copies stay in
# $(PREFIX)/share/doc/ferry/examples).
SD_UNITS := ferry-relay.service ferry-agent.service \
	ferry-relay-metrics.service ferry-relay-metrics.timer
EXAMPLE_CONFS := agent.conf relay.conf
install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 docs/man/ferry.1 docs/man/ferry-keys.1 docs/man/ferry-audit.1 \
		$(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/man/ferry-agent.8 docs/man/ferry-relay.8 \
		$(DESTDIR)$(PREFIX)/share/man/man8/
	install -d $(DESTDIR)$(PREFIX)/share/doc/ferry/examples
	install -m 0644 $(addprefix docs/examples/,$(EXAMPLE_CONFS) $(SD_UNITS)) \
		docs/examples/referral.json \
		$(DESTDIR)$(PREFIX)/share/doc/ferry/examples/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for u in $(SD_UNITS); do \
		sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' \
			-e 's|/etc/ferry/|$(SYSCONFDIR)/ferry/|g' docs/examples/$$u \
			>$(DESTDIR)$(PREFIX)/lib/systemd/system/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$$u.tmp && \
		mv $(DESTDIR)$(PREFIX)/lib/systemd/system/$$u.tmp \
			$(DESTDIR)$(PREFIX)/lib/systemd/system/$$u || exit 1; \
	done
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/ferry
	for f in $(EXAMPLE_CONFS); do \
		if [ -e $(DESTDIR)$(SYSCONFDIR)/ferry/$$f ]; then \
			echo "make install: $(SYSCONFDIR)/ferry/$$f exists, left as it is (the example is in $(PREFIX)/share/doc/ferry/examples/$$f)"; \
		else \
			install -m 0644 docs/examples/$$f $(DESTDIR)$(SYSCONFDIR)/ferry/$$f || exit 1; \
		fi; \
	done

clean:
	rm -rf build

-include $(sort $(shell find build $(BUILD) -name '*.d' 2>/dev/null))
