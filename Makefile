# streamgate: see README.md.  `make run` and `make test` are the two entry points.

BUILD		?= build
CC		?= gcc
CLANG		?= clang
PREFIX		?= /usr/local
# `make install` (see the install target): DESTDIR stages a package.
DESTDIR		?=
SBINDIR		?= $(PREFIX)/sbin
PKGLIBDIR	?= $(PREFIX)/lib/streamgate
DATADIR		?= $(PREFIX)/share/streamgate
DOCDIR		?= $(PREFIX)/share/doc/streamgate
UNITDIR		?= $(PREFIX)/lib/systemd/system
MANDIR		?= $(PREFIX)/share/man
COMPLETIONDIR	?= $(PREFIX)/share/bash-completion/completions

# Debian keeps asm/ under the multiarch directory; the BPF target needs it.
MULTIARCH	:= $(shell $(CC) -print-multiarch 2>/dev/null)

# llhttp: Debian's node-llhttp ships its C sources; we compile them in.
LLHTTP_DIR	:= /usr/share/llhttp
LLHTTP_INC	:= /usr/share/include/llhttp
LLHTTP_SRCS	:= $(LLHTTP_DIR)/llhttp.c $(LLHTTP_DIR)/api.c $(LLHTTP_DIR)/http.c
# strict mode is a compile-time switch in llhttp 8: without it the two bytes
# after a chunk's data are skipped unchecked (a request smuggling vector)
LLHTTP_DEFS	:= -DLLHTTP_STRICT_MODE=1
# A fresh machine: install the packages before make reads a rule that names
# their files (llhttp's sources, above all).  Idempotent and quick.
DEPS_PROBE	:= $(LLHTTP_DIR)/llhttp.c /usr/include/bpf/libbpf.h \
		   /usr/include/cjson/cJSON.h /usr/include/libnftnl/table.h
ifneq ($(MAKECMDGOALS),clean)
ifneq ($(MAKECMDGOALS),uninstall)
ifneq ($(words $(wildcard $(DEPS_PROBE))),$(words $(DEPS_PROBE)))
$(info installing build dependencies (scripts/install-deps.sh) ...)
$(shell scripts/install-deps.sh 1>&2)
endif
endif
endif

WARN		:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wformat=2
CFLAGS		?= -O2 -g
CFLAGS		+= -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude \
		   -fstack-protector-strong -D_FORTIFY_SOURCE=2
SAN		:= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all

BPF_CFLAGS	:= -O2 -g -target bpf -Wall -Werror -Iinclude \
		   -I/usr/include/$(MULTIARCH)

# The version, in one place; a build from a checkout adds `git describe`.
VERSION		:= 0.10.0
GIT_DESCRIBE	:= $(shell git describe --always --dirty --tags 2>/dev/null)

# daemon/ holds three rooms, each an archive:
#   core/         what both programs share (libsgcore.a)
#   streamgated/  the verifier daemon (main.c + libstreamgated.a)
#   streamgate/   the control tool (main.c + libstreamgate.a)
# A room sees its own headers and core's only, so the compiler keeps the
# programs apart; from an archive the linker takes only the objects a
# program calls, and each program names only the libraries it needs.
ROOMS		:= core streamgated streamgate
INC_core	:= -Idaemon/core
INC_streamgated	:= -Idaemon/core -Idaemon/streamgated -I$(LLHTTP_INC)
INC_streamgate	:= -Idaemon/core -Idaemon/streamgate
INC_ALL		:= -Idaemon/core -Idaemon/streamgated -Idaemon/streamgate \
		   -I$(LLHTTP_INC)
room_srcs	= $(filter-out daemon/$(1)/main.c,$(wildcard daemon/$(1)/*.c))
CORE_SRCS	:= $(call room_srcs,core)
SGD_SRCS	:= $(call room_srcs,streamgated)
SG_SRCS		:= $(call room_srcs,streamgate)
LIB_SRCS	:= $(CORE_SRCS) $(SGD_SRCS) $(SG_SRCS)
LLHTTP_OBJS	= $(LLHTTP_SRCS:$(LLHTTP_DIR)/%.c=$(1)/obj/llhttp_%.o)

# each program's own libraries (tests/cli/test_layout.sh: exactly these)
LDLIBS_streamgated := -lcjson -lz -lssl -lcrypto -lsqlite3 -lhiredis -lnats \
		   -lcurl -lseccomp -lbpf -lnftnl -lmnl
LDLIBS_streamgate := -lbpf -lcjson -lz -lnftnl -lmnl -lcrypto -lsqlite3 -lcurl \
		   -lnats
# tests and benchmarks link every room
LDLIBS_ALL	:= -lbpf -lelf -lz -lcjson -lnftnl -lmnl -lssl -lcrypto -lsqlite3 \
		   -lhiredis -lnats -lcurl -lseccomp -lpthread
HDRS		:= $(wildcard include/*.h daemon/*/*.h)
# an archive per room, plain ($(BUILD)) and under ASan + UBSan ($(BUILD)/asan)
ARCHIVES	= $(1)/libstreamgated.a $(1)/libstreamgate.a $(1)/libsgcore.a

UNIT_SRCS	:= $(wildcard tests/unit/test_*.c)
UNIT_BINS	:= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%) \
		   $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/tests/%)
BPFT_SRCS	:= $(wildcard tests/bpf/test_*.c)
BPFT_BINS	:= $(BPFT_SRCS:tests/bpf/%.c=$(BUILD)/tests/bpf_%)
FUZZ_SRCS	:= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS	:= $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_SRCS	:= $(filter-out %.bpf.c,$(wildcard bench/*.c))
BENCH_BINS	:= $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

DEPS_STAMP	:= $(BUILD)/.deps-ok
SOAK_S		?= 600

.PHONY: all deps run test unit soak bench bench-xdp bench-nft bench-daemon \
		bench-flood demo install \
		uninstall deb clean FORCE
.SECONDARY:
# What the control tool's command table writes, besides the tool itself.
GENERATED	:= $(BUILD)/streamgate.bash-completion $(BUILD)/man/streamgate.8
MAN_PAGES	:= $(BUILD)/man/streamgate.8 daemon/streamgated/streamgated.8 \
		   daemon/streamgated/streamgated.json.5
all: $(BUILD)/streamgate.bpf.o $(BUILD)/streamgate $(BUILD)/streamgated \
	$(GENERATED)

# install-deps.sh is idempotent and quick; the stamp only saves re-running it
# within one build.  It is re-checked whenever the script changes.
$(DEPS_STAMP): scripts/install-deps.sh
	@mkdir -p $(BUILD)
	@scripts/install-deps.sh
	@touch $@
deps: $(DEPS_STAMP)

$(BUILD)/streamgate.bpf.o: bpf/streamgate.bpf.c include/streamgate.h | $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The version string changes with the checkout: rewritten only when it
# does, so only version.o is rebuilt.
$(BUILD)/sg_build_version.h: FORCE
	@mkdir -p $(@D)
	@printf '#define SG_VERSION "%s"\n#define SG_GIT "%s"\n' \
		'$(VERSION)' '$(GIT_DESCRIBE)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@

# $* is ROOM/FILE: the room picks the include path.
room_of		= $(firstword $(subst /, ,$(1)))
$(BUILD)/obj/%.o: daemon/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_$(call room_of,$*)) -c $< -o $@

$(BUILD)/asan/obj/%.o: daemon/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) $(INC_$(call room_of,$*)) -c $< -o $@

$(BUILD)/obj/core/version.o $(BUILD)/asan/obj/core/version.o: $(BUILD)/sg_build_version.h
$(BUILD)/obj/core/version.o $(BUILD)/asan/obj/core/version.o: CFLAGS += -I$(BUILD)

# llhttp is generated code, not ours: built without our warning set.
$(BUILD)/obj/llhttp_%.o: $(LLHTTP_DIR)/%.c Makefile | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -O2 -g $(LLHTTP_DEFS) -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/asan/obj/llhttp_%.o: $(LLHTTP_DIR)/%.c Makefile | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -O2 -g $(SAN) $(LLHTTP_DEFS) -I$(LLHTTP_INC) -c $< -o $@

define room_archive
$(1)/libsgcore.a: $(CORE_SRCS:daemon/%.c=$(1)/obj/%.o)
$(1)/libstreamgated.a: $(SGD_SRCS:daemon/%.c=$(1)/obj/%.o) $(call LLHTTP_OBJS,$(1))
$(1)/libstreamgate.a: $(SG_SRCS:daemon/%.c=$(1)/obj/%.o)
endef
$(eval $(call room_archive,$(BUILD)))
$(eval $(call room_archive,$(BUILD)/asan))
$(BUILD)/%.a:
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/streamgate: $(BUILD)/obj/streamgate/main.o $(BUILD)/libstreamgate.a \
		$(BUILD)/libsgcore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_streamgate)

$(BUILD)/streamgated: $(BUILD)/obj/streamgated/main.o $(BUILD)/libstreamgated.a \
		$(BUILD)/libsgcore.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_streamgated)

# The bash completion and the man page's synopsis come from the command
# table, through the tool itself.
$(BUILD)/streamgate.bash-completion: $(BUILD)/streamgate
	$(BUILD)/streamgate --bash-completion >$@.tmp && mv -f $@.tmp $@

$(BUILD)/man/streamgate.8: daemon/streamgate/streamgate.8.in $(BUILD)/streamgate
	@mkdir -p $(@D)
	$(BUILD)/streamgate --man-synopsis >$@.synopsis
	sed -e '/^\.\\" @SYNOPSIS@$$/{r $@.synopsis' -e 'd;}' $< >$@.tmp
	@rm -f $@.synopsis
	mv -f $@.tmp $@

# The daemon under ASan + UBSan, for tests/daemon/test_stress.sh.
$(BUILD)/asan/streamgated: $(BUILD)/asan/obj/streamgated/main.o \
		$(BUILD)/asan/libstreamgated.a $(BUILD)/asan/libsgcore.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_streamgated)

# Unit tests: cmocka, once plain and once under ASan + UBSan.
$(BUILD)/tests/%: tests/unit/%.c $(call ARCHIVES,$(BUILD)) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_ALL) -o $@ $< $(call ARCHIVES,$(BUILD)) \
		$(LDLIBS_ALL) -lcmocka

$(BUILD)/asan/tests/%: tests/unit/%.c $(call ARCHIVES,$(BUILD)/asan) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) $(INC_ALL) -o $@ $< \
		$(call ARCHIVES,$(BUILD)/asan) $(LDLIBS_ALL) -lcmocka

# XDP tests by BPF_PROG_TEST_RUN: they load build/streamgate.bpf.o.
$(BUILD)/tests/bpf_%: tests/bpf/%.c tests/bpf/pkt.h $(call ARCHIVES,$(BUILD)) \
		$(HDRS) $(BUILD)/streamgate.bpf.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_ALL) -Itests/bpf -o $@ $< \
		$(call ARCHIVES,$(BUILD)) $(LDLIBS_ALL) -lcmocka

# Fuzz targets: libFuzzer, built with clang and the sanitizers.  The core
# and the daemon are compiled for them once, into an archive.
FUZZ_CFLAGS	:= -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(BUILD) $(INC_ALL) \
		   $(LLHTTP_DEFS) -fsanitize=fuzzer-no-link,address,undefined
FUZZ_OBJS	:= $(CORE_SRCS:daemon/%.c=$(BUILD)/fuzz/obj/%.o) \
		   $(SGD_SRCS:daemon/%.c=$(BUILD)/fuzz/obj/%.o) \
		   $(LLHTTP_SRCS:$(LLHTTP_DIR)/%.c=$(BUILD)/fuzz/obj/llhttp_%.o)
$(BUILD)/fuzz/obj/%.o: daemon/%.c $(HDRS) $(BUILD)/sg_build_version.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/obj/llhttp_%.o: $(LLHTTP_DIR)/%.c Makefile | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(BUILD)/fuzz/libfuzz.a: $(FUZZ_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libfuzz.a $(HDRS)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/libfuzz.a \
		$(LDLIBS_ALL)

$(BUILD)/bench/%: bench/%.c tests/bpf/pkt.h $(call ARCHIVES,$(BUILD)) $(HDRS) \
		$(BUILD)/streamgate.bpf.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC_ALL) -Itests/bpf -o $@ $< \
		$(call ARCHIVES,$(BUILD)) $(LDLIBS_ALL)

# `make run`: safe defaults (scripts/run-local.sh): nothing is attached to
# any interface; streamgated runs in the foreground on 127.0.0.1:8080 with
# a development key, its config in var/streamgated.json.
# `make run DEV=eth0 REGION=us-east [CONFIG=FILE]`: the real thing instead
# (scripts/run-edge.sh: streamgate up on DEV, the log followed, down on exit).
run: all
ifneq ($(DEV),)
	@BUILD=$(BUILD) DEV=$(DEV) REGION=$(REGION) CONFIG=$(CONFIG) \
		ALLOW="$(ALLOW)" scripts/run-edge.sh
else
	@BUILD=$(BUILD) scripts/run-local.sh
endif

test: all $(UNIT_BINS) $(BPFT_BINS) $(FUZZ_BINS) $(BUILD)/asan/streamgated
	@BUILD=$(BUILD) tests/run.sh

unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run.sh unit

# `make demo`: the three layers end to end in throwaway namespaces.
demo: all
	@BUILD=$(BUILD) bash scripts/demo.sh

# `make soak` (not in make test): SOAK_S seconds (600) of legit traffic,
# attacks, reloads, crashes and a full disk; one line of figures.
soak: all
	@BUILD=$(BUILD) SOAK_S=$(SOAK_S) tests/soak/soak.sh

bench: bench-xdp bench-nft bench-daemon
bench-xdp: all $(BENCH_BINS)
	@BUILD=$(BUILD) bench/bench-xdp.sh
bench-nft: all
	@BUILD=$(BUILD) bench/bench-nft.sh
bench-daemon: all
	@BUILD=$(BUILD) bench/bench-daemon.sh
# `make bench-flood` (not in `make bench` or `make test`; about 5 minutes):
# floods through each layer in throwaway namespaces (README: Under a flood).
BENCH_BPF	:= $(BUILD)/bench/flood.bpf.o $(BUILD)/bench/bare.bpf.o
$(BUILD)/bench/%.bpf.o: bench/%.bpf.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
bench-flood: all $(BUILD)/bench/flood_gen $(BENCH_BPF)
	@BUILD=$(BUILD) bench/bench-flood.sh

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binaries of $(BUILD)
# (built first when missing or stale), the BPF object, the examples, the
# README and the systemd units.  Nothing under /etc: the operator's
# configuration is never written (README: Installing).  Idempotent;
# `make uninstall` with the same PREFIX/DESTDIR removes exactly these files.
# The units in scripts/systemd/ name the default paths (/usr/local/...), so
# they stay valid units in the tree; install rewrites those for PREFIX.
INSTALL		?= install
INST_SBIN	:= streamgated streamgate streamgate-regen
INST_UNITS	:= streamgated.service streamgate-filter.service \
		   streamgate-regen.service streamgate-regen.timer \
		   streamgate-counters.socket streamgate-counters@.service
INST_DATA	:= streamgated.json.example streamgate.env.example
# Prometheus alert rules and the Grafana dashboard (README: Installing)
INST_OPS	:= prometheus/streamgate.rules.yml grafana/streamgate.json
UNIT_SED	:= -e 's|/usr/local/sbin/|$(SBINDIR)/|g' \
		   -e 's|/usr/local/share/doc/streamgate/|$(DOCDIR)/|g' \
		   -e 's|/usr/local/share/streamgate/|$(DATADIR)/|g' \
		   -e 's|/usr/local/lib/streamgate/|$(PKGLIBDIR)/|g'
INST_FILES	:= $(INST_SBIN:%=$(SBINDIR)/%) $(PKGLIBDIR)/streamgate.bpf.o \
		   $(INST_DATA:%=$(DATADIR)/%) $(INST_OPS:%=$(DATADIR)/%) \
		   $(DOCDIR)/README.md \
		   $(INST_UNITS:%=$(UNITDIR)/%) \
		   $(MANDIR)/man8/streamgate.8 $(MANDIR)/man8/streamgated.8 \
		   $(MANDIR)/man5/streamgated.json.5 $(COMPLETIONDIR)/streamgate

install: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PKGLIBDIR) \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(DATADIR)/prometheus \
		$(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(COMPLETIONDIR)
	$(INSTALL) -m 0755 $(BUILD)/streamgated $(BUILD)/streamgate \
		scripts/streamgate-regen $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0644 $(BUILD)/streamgate.bpf.o $(DESTDIR)$(PKGLIBDIR)/
	$(INSTALL) -m 0644 $(INST_DATA:%=scripts/%) $(DESTDIR)$(DATADIR)/
	$(INSTALL) -m 0644 scripts/prometheus/streamgate.rules.yml \
		$(DESTDIR)$(DATADIR)/prometheus/
	$(INSTALL) -m 0644 scripts/grafana/streamgate.json $(DESTDIR)$(DATADIR)/grafana/
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(BUILD)/streamgate.bash-completion \
		$(DESTDIR)$(COMPLETIONDIR)/streamgate
	@for u in $(INST_UNITS); do \
		echo "sed $(UNIT_SED) scripts/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u"; \
		sed $(UNIT_SED) scripts/systemd/$$u >$(DESTDIR)$(UNITDIR)/.$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/.$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/.$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

# Only what install put there, then our own directories if they are empty.
uninstall:
	rm -f $(INST_FILES:%=$(DESTDIR)%)
	@for d in $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(DATADIR)/prometheus \
		$(DESTDIR)$(DATADIR)/grafana $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d || exit 1; \
	done

# `make deb`: $(BUILD)/streamgate_$(VERSION)_ARCH.deb, the install above
# with PREFIX=/usr and the units in /lib/systemd/system, plus Debian's
# copyright, changelog and maintainer scripts (scripts/debian/).
deb: all
	@scripts/debian/build-deb.sh $(BUILD) $(VERSION)

clean:
	rm -rf $(BUILD)
