# msb - build, test, install.  `make help` lists the targets.

VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
LIBEXECDIR ?= $(PREFIX)/libexec
BINDIR     ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=

B          ?= build
CC         ?= cc
SAN        ?=
OPT        ?= -O2 -g
# The one set of warnings, for every C file built here (the library, the
# agent, msb-vmm, its test guest, the CLI, the tests, the fuzzers).
WARN       := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
# Each compile writes its object's header dependencies (a .d file beside
# it, included at the end): touching a header rebuilds only what includes it.
DEPFLAGS   := -MMD -MP
# What every C file of the product is compiled with; SAN comes on top where
# sanitizers can link (not the static agent, the probe or the test guest).
BASE_CFLAGS := -std=gnu11 $(OPT) $(WARN) -fno-strict-aliasing $(DEPFLAGS)
CPPFLAGS   += -D_GNU_SOURCE -Iinclude -Icommon
# The agent speaks the protocol (common/) and never sees the client ABI
# (include/): no -Iinclude.
AGENT_CPPFLAGS := -D_GNU_SOURCE -Icommon -Iguest -DMSB_AGENT_VERSION='"$(VERSION)"'
CFLAGS     ?=
CFLAGS     += $(BASE_CFLAGS) $(SAN)
LDFLAGS    += $(SAN)

LIB_SRC    := $(wildcard libmsb/*.c) $(wildcard common/*.c)
AGENT_SRC  := $(wildcard guest/*.c) $(wildcard common/*.c)
CLI_SRC    := $(wildcard cli/*.c)
# The C tests, in folders by kind (a test file at the top of tests/ is
# picked up too); each becomes $(B)/tests/<its name>, so names are unique.
TEST_KINDS := api cli security vmm proto
TEST_SRC   := $(wildcard tests/*.c) $(foreach k,$(TEST_KINDS),$(wildcard tests/$(k)/*.c))
PROTO_UNIT_TESTS := $(B)/tests/wire

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/obj/lib/%.o)
AGENT_OBJ  := $(AGENT_SRC:%.c=$(B)/obj/agent/%.o) $(B)/obj/agent/gen/repl_drivers.o
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/obj/cli/%.o)
# The REPL drivers, kept as real scripts, compiled into the agent.
REPL_DRIVERS := repl_driver_python=guest/repl/driver.py \
		repl_driver_node=guest/repl/driver.js \
		repl_driver_shell=guest/repl/driver.sh

SONAME     := libmsb.so.$(SOVERSION)
SHLIB      := $(B)/lib/libmsb.so.$(VERSION)
STLIB      := $(B)/lib/libmsb.a
AGENT      := $(B)/libexec/msb/msb-agent
CLI        := $(B)/bin/msb
TESTS      := $(addprefix $(B)/tests/,$(notdir $(TEST_SRC:.c=)))
ifneq ($(words $(TESTS)),$(words $(sort $(TESTS))))
$(error two tests in tests/ share a name: $(sort $(foreach t,$(TESTS),$(if $(filter-out 1,$(words $(filter $(t),$(TESTS)))),$(notdir $(t))))))
endif
BENCH      := $(B)/bench/msb-bench
LIBS       := -ljansson -lpthread
AGENT_LIBS := -lseccomp -ljansson

.PHONY: all test test-c test-asan bench fuzz soak soak-short install uninstall clean help check-header check-bindings check-layout kernel rootfs \
	test-nested tests nested
all: $(SHLIB) $(STLIB) $(AGENT) $(CLI) $(B)/lib/msb.pc vmm kernel

# msb-vmm and its test guest (after `all`, which stays the default goal).
include vmm/Makefile.inc
vmm: $(VMM) $(TESTGUEST)
.PHONY: vmm

help:
	@echo "Builds:"
	@echo "  make                 (all) libmsb (shared + static, msb.pc), msb-agent, msb, msb-vmm,"
	@echo "                       the test guest and the guest kernel"
	@echo "  make vmm             msb-vmm and the test guest only"
	@echo "  make kernel          the microVM guest kernel (once per machine, cached)"
	@echo "  make rootfs          the microVMs' root image (once per machine, as root, cached)"
	@echo "  make tests           every C test program (build/tests/<name>) and the probe, not run"
	@echo "  make nested          the nested harness's static programs (build/nested/*)"
	@echo "  make build/<file>    any one file, e.g. build/lib/libmsb.so, build/bin/msb-vmm,"
	@echo "                       build/tests/commands, build/fuzz/fuzz_frame (B=dir: another tree)"
	@echo "Tests:"
	@echo "  make test            the whole suite (tests/run-all.sh): header check, C tests as root"
	@echo "                       and unprivileged, again under ASan/UBSan, fuzzers, nested, bindings"
	@echo "  make test-c          build all, then the C tests as root and unprivileged"
	@echo "  make test-asan       test-c in build-asan with ASan and UBSan"
	@echo "  make fuzz            build the libFuzzer targets (clang) and run each FUZZ_SECONDS (60)"
	@echo "  make test-nested     in an emulated L1 with KVM (QEMU): msb-vmm boots the guest kernel,"
	@echo "                       the conformance test on the vm backend, its lifecycle, named"
	@echo "                       microVMs, the hostile guest (TAP under prove; minutes)"
	@echo "  make check-header    include/msb.h compiles alone as C99 and as C++"
	@echo "  make check-bindings  fail if the Rust FFI no longer matches include/msb.h"
	@echo "  make soak            10,000 sandboxes (and 10,000 from 50 threads, 1,000 msb runs,"
	@echo "                       200 owners killed with SIGKILL) leave no fd, memory, mount,"
	@echo "                       cgroup, process or file behind"
	@echo "  make soak-short      the same, shorter (part of make test)"
	@echo "  make check-layout    no files calling each other in a loop in libmsb/, guest/, vmm/;"
	@echo "                       no source over 900 lines without a reason; no msb.h in the agent"
	@echo "  make bench           the benchmarks: libmsb and msb-vmm on this host, then msb-vmm"
	@echo "                       against QEMU and vm against os in the nested harness"
	@echo "Install:"
	@echo "  make install         install to \$$DESTDIR\$$PREFIX (PREFIX=$(PREFIX))"
	@echo "  make uninstall       remove what install put there"
	@echo "  make clean           remove build and build-asan"

$(B)/obj/lib/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DMSB_BUILDING_LIBRARY -DMSB_LIBEXECDIR='"$(LIBEXECDIR)"' -DMSB_DATADIR='"$(PREFIX)/share"' \
		$(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@

# The agent is static and never built with sanitizers (they cannot link
# statically); SAN applies to the library, the CLI and the tests.
$(B)/obj/agent/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(AGENT_CPPFLAGS) $(BASE_CFLAGS) -c $< -o $@

$(B)/gen/repl_drivers.c: $(wildcard guest/repl/*) scripts/embed.sh
	@mkdir -p $(@D)
	scripts/embed.sh $@ $(REPL_DRIVERS)

$(B)/obj/agent/gen/repl_drivers.o: $(B)/gen/repl_drivers.c
	@mkdir -p $(@D)
	$(CC) -c $< -o $@

$(SHLIB): $(LIB_OBJ) libmsb/libmsb.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=libmsb/libmsb.map \
		-Wl,-z,defs $(LDFLAGS) -o $@ $(LIB_OBJ) $(LIBS)
	ln -sf libmsb.so.$(VERSION) $(B)/lib/$(SONAME)
	ln -sf $(SONAME) $(B)/lib/libmsb.so

# The links that the shared library's rule makes beside it.
$(B)/lib/libmsb.so $(B)/lib/$(SONAME): $(SHLIB)

$(STLIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(LIB_OBJ)

$(AGENT): $(AGENT_OBJ)
	@mkdir -p $(@D)
	$(CC) -static -o $@ $(AGENT_OBJ) $(AGENT_LIBS)

$(B)/obj/cli/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(CLI): $(CLI_OBJ) $(STLIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STLIB) $(LIBS)

$(B)/lib/msb.pc: msb.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# The tests' shared helpers (tap.h, msbt.h) are in tests/lib.
$(B)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/lib $(CFLAGS) -c $< -o $@

# $(B)/tests/<name> is linked from $(B)/obj/tests/<kind>/<name>.o (one
# prerequisite line per test, made here) and, unless its own rule below
# says otherwise, the shared library from the build tree.
$(foreach s,$(TEST_SRC),$(eval $(B)/tests/$(notdir $(s:.c=)): $(B)/obj/$(s:.c=.o)))
$(filter-out $(VMM_UNIT_TESTS) $(PROTO_UNIT_TESTS),$(TESTS)): $(B)/tests/%: $(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -L$(B)/lib -lmsb \
		-Wl,-rpath,'$$ORIGIN/../lib' $(LIBS)

# The protocol's unit tests (tests/proto, PROTO_UNIT_TESTS) link
# common/'s objects, not libmsb: the wire schema and the frame reader on
# their own.
$(B)/tests/wire: $(B)/obj/lib/common/wire.o $(B)/obj/lib/common/proto.o
$(PROTO_UNIT_TESTS):
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -ljansson

# The VMM's boot test runs ../bin/msb-vmm with ../share/msb/testguest.elf.
$(B)/tests/vmm_boot: $(VMM) $(TESTGUEST)

# The helper that the tests run inside sandboxes; built without SAN (its
# dependencies go to obj/: $(B)/tests holds only programs).
$(B)/tests/probe: tests/probe/probe.c
	@mkdir -p $(@D) $(B)/obj/tests/probe
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) -MF $(B)/obj/tests/probe/probe.d -o $@ $<

# The soak (tests/soak/soak.c): many sandboxes leave nothing behind (fds,
# RSS, mounts, cgroups, processes, state entries, /tmp files).  Not in
# $(B)/tests (run-c-tests.sh runs everything there): `make soak` is the long
# form (10,000 cycles, then 10,000 from 50 threads, 1,000 `msb run`s, and
# 200 owners killed with SIGKILL at random points), `make soak-short` the
# form `make test` runs (300, 8 threads, 30, 30).
$(B)/soak/soak: tests/soak/soak.c $(SHLIB)
	@mkdir -p $(@D) $(B)/obj/soak
	$(CC) $(CPPFLAGS) -Itests/lib $(CFLAGS) -MF $(B)/obj/soak/soak.d $(LDFLAGS) -o $@ $< \
		-L$(B)/lib -lmsb -Wl,-rpath,'$$ORIGIN/../lib' $(LIBS)

soak: all $(B)/soak/soak
	$(B)/soak/soak --cycles 10000 --threads 50 --cli 1000 --kill 200

soak-short: $(SHLIB) $(AGENT) $(CLI) $(B)/soak/soak
	$(B)/soak/soak --cycles 300 --threads 8 --cli 30 --kill 30

# Every C test program and the probe, built, not run.
tests: $(TESTS) $(B)/tests/probe

# The nested harness's programs, static and without SAN, which
# tests/nested/run installs in L1: l2init (the L2 guest's init), the
# checkers l1check and hostile, and hostile_guest (the hostile guest's
# PID 1).  Each is one file of tests/nested.
NESTED_PROGS := $(addprefix $(B)/nested/,l2init l1check hostile hostile_guest)
$(B)/nested/%: tests/nested/%.c
	@mkdir -p $(@D)
	$(CC) -static -std=gnu11 -O2 $(WARN) $(DEPFLAGS) -o $@ $<

nested: $(NESTED_PROGS)

$(BENCH): bench/bench.c $(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -L$(B)/lib -lmsb \
		-Wl,-rpath,'$$ORIGIN/../lib' $(LIBS)

# msb-vmm's benchmarks: runs ../bin/msb-vmm and ../share/msb/testguest.elf.
$(B)/bench/msb-vmm-bench: bench/vmm.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

check-header:
	@mkdir -p $(B)/tmp
	printf '#include "msb.h"\nint main(void){return msb_version()==0;}\n' > $(B)/tmp/h.c
	$(CC) -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c $(B)/tmp/h.c -o $(B)/tmp/h.o
	printf '#include "msb.h"\nint main(){return msb_version()==nullptr;}\n' > $(B)/tmp/h.cc
	c++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -c $(B)/tmp/h.cc -o $(B)/tmp/hcc.o

# The Rust FFI (bindings/rust/msb-sys) is generated by bindgen from
# include/msb.h and committed: this fails when it is stale.
# The rooms stay apart (scripts/check-layout.py reads the objects' symbol
# tables, so it needs them built).
check-layout: $(SHLIB) $(AGENT) $(VMM)
	scripts/check-layout.py $(B)

check-bindings:
	bindings/rust/gen-bindings.sh --check

# The guest kernel, from Debian's linux-source-6.1 and vmm/kernel/msb.config,
# built once per machine and cached outside the work tree (see
# vmm/kernel/README.md): part of `all`; about 4.5 minutes on 2 cores the
# first time (progress on stderr), a cache check of ~0.1 s afterwards.
# $(B)/share/msb/vmlinux links to the cached image.  The kernel's own make
# must not see ours: no jobserver, and no variables from our command line
# (CC=, OPT=, ...) leaking into the kernel build.
kernel:
	@env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		scripts/build-kernel.sh --link $(B)/share/msb/vmlinux >/dev/null

# The microVMs' root filesystem: Debian 12 minbase with python3 and nodejs
# (scripts/build-rootfs.sh: debootstrap from this machine's own Debian
# mirror; needs root; about a minute, once per machine, cached outside the
# tree).  $(B)/share/msb/rootfs.ext4 links to the cached image, and
# $(B)/share/msb/rootfs to the same tree unpacked (an os sandbox's --rootfs).
rootfs:
	@scripts/build-rootfs.sh --link $(B)/share/msb/rootfs.ext4 >/dev/null
	@scripts/build-rootfs.sh --tree --link $(B)/share/msb/rootfs >/dev/null

# The whole path on this machine: QEMU emulates a CPU with AMD SVM, an L1
# Linux runs KVM, and inside it tests/nested/l1check boots the guest kernel
# with msb-vmm three times (1 and 2 vCPUs, a read-write and a read-only
# disk) and talks to its init (tests/nested/l2init.c) over virtio-console;
# the guest must also find KVM, run on kvm-clock and warn about nothing.
# Before that, the conformance test (tests/api/conformance.c, the contract both
# backends keep) on this host with the microVMs' root image as an os
# sandbox's root; then the vm backend itself: the conformance test with
# MSB_TEST_BACKEND=vm, how a microVM sandbox ends (tests/nested/vm-lifecycle.sh:
# the owner's death, a killed VMM), named detached microVMs with many
# clients (tests/nested/named-vm.sh); and the hostile guest
# (tests/nested/hostile_guest.c, checked by tests/nested/hostile.c): root
# in the guest floods the console, abuses the disk, sends garbage to the
# ports and the virtio registers and drives both devices through forged
# rings; msb-vmm must survive or exit cleanly.
# It runs on one vCPU: with two, the emulated nested SVM itself fails now
# and then (a lost vCPU, L1 resetting), not msb-vmm.  Its serial flood is
# cut to 64 KiB (the cap check SKIPs): the full one is a million port
# exits, and in one run of two the emulation triple-faulted the guest in
# it; run `hostile` in tests/nested/run for the whole flood (the log's cap
# is also tested without KVM: tests/vmm/serial.c).  The same emulator fault
# (KVM resetting the vCPU at its shutdown intercept) strikes shorter runs
# too, at random points (once in phase 4, in CI): HOSTILE_RETRY_L0_FAULT=1
# reports such a try and runs the test once more (hostile.c).
# TAP under prove; SKIP where QEMU cannot be installed.  A few minutes once
# the kernels and the root image are built (tests/nested/run builds the L1
# kernel and, with --vm, the image; cached).  Part of `make test`.
test-nested: all rootfs $(B)/tests/conformance
	MSB_TEST_ROOTFS=$$(readlink -f $(B)/share/msb/rootfs) prove -v $(B)/tests/conformance
	prove -v -e 'tests/nested/run --tap --' /usr/libexec/msb/nested/l1check
	prove -v -e 'tests/nested/run --tap --vm --timeout 600 -- env MSB_TEST_BACKEND=vm' \
		/usr/libexec/msb/nested/conformance
	prove -v -e 'tests/nested/run --tap --vm --timeout 600 --' /usr/libexec/msb/nested/vm-lifecycle.sh
	prove -v -e 'tests/nested/run --tap --vm --timeout 900 --' /usr/libexec/msb/nested/named-vm.sh
	prove -v -e 'tests/nested/run --tap --timeout 600 -- env HOSTILE_CPUS=1 HOSTILE_GUEST_ARGS=hostile.serial_kib=64 HOSTILE_RETRY_L0_FAULT=1' \
		/usr/libexec/msb/nested/hostile

test-c: all $(TESTS) $(B)/tests/probe
	B=$(B) tests/run-c-tests.sh

test: all
	tests/run-all.sh

test-asan:
	$(MAKE) B=build-asan OPT='-O1 -g' SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' test-c

# The host's benchmarks, then those that need a KVM which boots Linux, in
# the nested harness (tests/nested/bench.sh: msb-vmm against QEMU's
# microvm, and the vm backend against the os backend, in the same L1).
bench: all $(BENCH) $(B)/bench/msb-vmm-bench
	$(BENCH)
	$(B)/bench/msb-vmm-bench
	tests/nested/run --vm --with-qemu --timeout 1800 -- bench.sh

# The fuzz targets (libFuzzer, clang, ASan and UBSan), each a program of
# its own: $(B)/fuzz/fuzz_frame (the frame decoder, common/proto.c),
# fuzz_wire (the wire schema's decoders of JSON bodies, common/wire.c),
# fuzz_units (the CLI's parsers of sizes and durations, cli/units.c),
# fuzz_virtq (the split virtqueue), fuzz_console (the multiport
# virtio-console through its MMIO registers).  `make fuzz` builds them and
# runs each for FUZZ_SECONDS; new corpus entries go to $(B)/fuzz/corpus*,
# crashes to $(B)/fuzz/*crash-*.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined
FUZZ_CFLAGS  := -std=gnu11 -g -O1 $(WARN) $(DEPFLAGS) $(FUZZ_SAN)
FUZZERS      := $(B)/fuzz/fuzz_frame $(B)/fuzz/fuzz_wire $(B)/fuzz/fuzz_units \
		$(B)/fuzz/fuzz_virtq $(B)/fuzz/fuzz_console

$(B)/obj/fuzz/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -Ivmm $(FUZZ_CFLAGS) -c $< -o $@

$(B)/fuzz/fuzz_frame: $(addprefix $(B)/obj/fuzz/,tests/fuzz/fuzz_frame.o common/proto.o)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ -ljansson

$(B)/fuzz/fuzz_wire: $(addprefix $(B)/obj/fuzz/,tests/fuzz/fuzz_wire.o common/wire.o common/proto.o)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ -ljansson

$(B)/fuzz/fuzz_units: $(addprefix $(B)/obj/fuzz/,tests/fuzz/fuzz_units.o cli/units.o)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^

$(B)/fuzz/fuzz_virtq: $(addprefix $(B)/obj/fuzz/,tests/fuzz/fuzz_virtq.o vmm/virtio.o)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^

$(B)/fuzz/fuzz_console: $(addprefix $(B)/obj/fuzz/,tests/fuzz/fuzz_console.o vmm/virtio.o \
		vmm/virtio_mmio.o vmm/virtio_console.o vmm/error.o)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ -lpthread

fuzz: $(FUZZERS)
	@mkdir -p $(B)/fuzz/corpus $(B)/fuzz/corpus-wire $(B)/fuzz/corpus-units $(B)/fuzz/corpus-virtq \
		$(B)/fuzz/corpus-console
	$(B)/fuzz/fuzz_frame -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/ \
		$(B)/fuzz/corpus tests/fuzz/corpus
	$(B)/fuzz/fuzz_wire -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/wire- \
		$(B)/fuzz/corpus-wire tests/fuzz/corpus-wire
	$(B)/fuzz/fuzz_units -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/units- \
		$(B)/fuzz/corpus-units tests/fuzz/corpus-units
	$(B)/fuzz/fuzz_virtq -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/virtq- \
		$(B)/fuzz/corpus-virtq
	$(B)/fuzz/fuzz_console -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(B)/fuzz/console- \
		$(B)/fuzz/corpus-console

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/msb
	install -m 644 include/msb.h $(DESTDIR)$(INCLUDEDIR)/msb.h
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libmsb.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmsb.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	install -m 644 $(B)/lib/msb.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 755 $(AGENT) $(DESTDIR)$(LIBEXECDIR)/msb/msb-agent
	install -m 755 $(VMM) $(DESTDIR)$(LIBEXECDIR)/msb/msb-vmm
	install -D -m 644 $(TESTGUEST) $(DESTDIR)$(PREFIX)/share/msb/testguest.elf
	install -m 644 $(B)/share/msb/vmlinux $(DESTDIR)$(PREFIX)/share/msb/vmlinux
	if [ -e $(B)/share/msb/rootfs.ext4 ]; then \
		install -m 644 $(B)/share/msb/rootfs.ext4 $(DESTDIR)$(PREFIX)/share/msb/rootfs.ext4; fi
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/msb

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/msb.h $(DESTDIR)$(LIBDIR)/libmsb.* \
		$(DESTDIR)$(LIBDIR)/pkgconfig/msb.pc $(DESTDIR)$(BINDIR)/msb
	rm -rf $(DESTDIR)$(LIBEXECDIR)/msb $(DESTDIR)$(PREFIX)/share/msb

clean:
	rm -rf build build-asan

# Every object's header dependencies, written by the compiler (DEPFLAGS);
# make never tries to remake them.
DEP_FILES := $(shell find $(B) -name '*.d' -type f 2>/dev/null)
$(DEP_FILES): ;
-include $(DEP_FILES)
