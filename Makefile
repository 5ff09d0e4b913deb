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
CFLAGS		+= -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Idaemon -I$(LLHTTP_INC) \
		   -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDLIBS_TOOL	:= -lbpf -lelf -lz -lcjson -lnftnl -lmnl -lssl -lcrypto -lsqlite3 \
		   -lhiredis -lcurl -lseccomp -lpthread
SAN		:= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all

BPF_CFLAGS	:= -O2 -g -target bpf -Wall -Werror -Iinclude \
		   -I/usr/include/$(MULTIARCH)

# daemon/*.c: every file but the mains is a library module.
MAINS		:= daemon/streamgate.c daemon/streamgated.c
LIB_SRCS	:= $(filter-out $(MAINS),$(wildcard daemon/*.c))
LIB_OBJS	:= $(LIB_SRCS:daemon/%.c=$(BUILD)/obj/%.o) \
		   $(LLHTTP_SRCS:$(LLHTTP_DIR)/%.c=$(BUILD)/obj/llhttp_%.o)
LIB_ASAN_OBJS	:= $(LIB_SRCS:daemon/%.c=$(BUILD)/asan/obj/%.o) \
		   $(LLHTTP_SRCS:$(LLHTTP_DIR)/%.c=$(BUILD)/asan/obj/llhttp_%.o)
HDRS		:= $(wildcard include/*.h daemon/*.h)

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

.PHONY: all deps run test unit bench bench-xdp bench-nft bench-daemon demo install \
		uninstall clean
.SECONDARY:
all: $(BUILD)/streamgate.bpf.o $(BUILD)/streamgate $(BUILD)/streamgated

# install-deps.sh is idempotent and quick; the stamp only saves re-running it
# within one build.  It is re-checked whenever the script changes.
$(DEPS_STAMP): scripts/install-deps.sh
	@mkdir -p $(BUILD)
	@scripts/install-deps.sh
	@touch $@
deps: $(DEPS_STAMP)

$(BUILD)/streamgate.bpf.o: bpf/streamgate.bpf.c include/streamgate.h | $(DEPS_STAMP)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: daemon/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# llhttp is generated code, not ours: built without our warning set.
$(BUILD)/obj/llhttp_%.o: $(LLHTTP_DIR)/%.c Makefile | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -O2 -g $(LLHTTP_DEFS) -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/asan/obj/llhttp_%.o: $(LLHTTP_DIR)/%.c Makefile | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -O2 -g $(SAN) $(LLHTTP_DEFS) -I$(LLHTTP_INC) -c $< -o $@

$(BUILD)/asan/obj/%.o: daemon/%.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/streamgate: $(BUILD)/obj/streamgate.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_TOOL)

$(BUILD)/streamgated: $(BUILD)/obj/streamgated.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_TOOL)

# The daemon under ASan + UBSan, for tests/daemon/test_stress.sh.
$(BUILD)/asan/streamgated: $(BUILD)/asan/obj/streamgated.o $(LIB_ASAN_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS_TOOL)

# Unit tests: cmocka, once plain and once under ASan + UBSan.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS_TOOL) -lcmocka

$(BUILD)/asan/tests/%: tests/unit/%.c $(LIB_ASAN_OBJS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $< $(LIB_ASAN_OBJS) $(LDLIBS_TOOL) -lcmocka

# XDP tests by BPF_PROG_TEST_RUN: they load build/streamgate.bpf.o.
$(BUILD)/tests/bpf_%: tests/bpf/%.c tests/bpf/pkt.h $(LIB_OBJS) $(HDRS) $(BUILD)/streamgate.bpf.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/bpf -o $@ $< $(LIB_OBJS) $(LDLIBS_TOOL) -lcmocka

# Fuzz targets: libFuzzer, built with clang and the sanitizers.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Idaemon -I$(LLHTTP_INC) \
		$(LLHTTP_DEFS) \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRCS) \
		$(LLHTTP_SRCS) $(LDLIBS_TOOL)

$(BUILD)/bench/%: bench/%.c tests/bpf/pkt.h $(LIB_OBJS) $(HDRS) $(BUILD)/streamgate.bpf.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests/bpf -o $@ $< $(LIB_OBJS) $(LDLIBS_TOOL)

# `make run`: safe defaults.  Nothing is attached to any interface: the
# region table and the filter's state are shown, then streamgated runs in
# the foreground on 127.0.0.1:8080 with a development key whose secret is
# made once in var/ (mode 600).  The README says how to filter a device.
RUN_SECRET	:= var/dev.secret
# `make run DEV=eth0 REGION=us-east [CONFIG=FILE]`: the real thing instead
# (scripts/run-edge.sh: streamgate up on DEV, the log followed, down on exit).
run: all
ifneq ($(DEV),)
	@BUILD=$(BUILD) DEV=$(DEV) REGION=$(REGION) CONFIG=$(CONFIG) \
		ALLOW="$(ALLOW)" scripts/run-edge.sh
else
	@echo "== streamgate region table (built in) =="
	@$(BUILD)/streamgate regions
	@echo
	@echo "== XDP filter status =="
	@$(BUILD)/streamgate filter stats || true
	@echo
	@mkdir -p var && chmod 750 var
	@[ -s $(RUN_SECRET) ] || (umask 077 && openssl rand -hex 32 > $(RUN_SECRET))
	@echo "== streamgated on http://127.0.0.1:8080 (API key 'dev', secret in $(RUN_SECRET)); Ctrl-C stops it =="
	@echo "try: b='{\"type\":\"message.new\"}'; curl -H 'X-Api-Key: dev' -H \"X-Webhook-Id: \$$(date +%s%N)\" \\"
	@echo "       -H \"X-Signature: \$$(printf %s \"\$$b\" | $(BUILD)/streamgate sign --secret-file $(RUN_SECRET))\" \\"
	@echo "       -d \"\$$b\" http://127.0.0.1:8080/webhooks/stream/push"
	@echo "(the real thing on a device: make run DEV=eth0 REGION=us-east [CONFIG=FILE])"
	@exec $(BUILD)/streamgated --listen 127.0.0.1:8080 --key dev=$(RUN_SECRET) \
		--store sqlite:var/streamgate.db
endif

test: all $(UNIT_BINS) $(BPFT_BINS) $(FUZZ_BINS) $(BUILD)/asan/streamgated
	@BUILD=$(BUILD) tests/run.sh

unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run.sh unit

# `make demo`: the three layers end to end in throwaway namespaces.
demo: all
	@BUILD=$(BUILD) bash scripts/demo.sh

bench: bench-xdp bench-nft bench-daemon
bench-xdp: all $(BENCH_BINS)
	@BUILD=$(BUILD) bench/bench-xdp.sh
bench-nft: all
	@BUILD=$(BUILD) bench/bench-nft.sh
bench-daemon: all
	@BUILD=$(BUILD) bench/bench-daemon.sh

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
		   streamgate-regen.service streamgate-regen.timer
INST_DATA	:= streamgated.json.example streamgate.env.example
UNIT_SED	:= -e 's|/usr/local/sbin/|$(SBINDIR)/|g' \
		   -e 's|/usr/local/share/doc/streamgate/|$(DOCDIR)/|g' \
		   -e 's|/usr/local/share/streamgate/|$(DATADIR)/|g' \
		   -e 's|/usr/local/lib/streamgate/|$(PKGLIBDIR)/|g'
INST_FILES	:= $(INST_SBIN:%=$(SBINDIR)/%) $(PKGLIBDIR)/streamgate.bpf.o \
		   $(INST_DATA:%=$(DATADIR)/%) $(DOCDIR)/README.md \
		   $(INST_UNITS:%=$(UNITDIR)/%)

install: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PKGLIBDIR) \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	$(INSTALL) -m 0755 $(BUILD)/streamgated $(BUILD)/streamgate \
		scripts/streamgate-regen $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0644 $(BUILD)/streamgate.bpf.o $(DESTDIR)$(PKGLIBDIR)/
	$(INSTALL) -m 0644 $(INST_DATA:%=scripts/%) $(DESTDIR)$(DATADIR)/
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	@for u in $(INST_UNITS); do \
		echo "sed $(UNIT_SED) scripts/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u"; \
		sed $(UNIT_SED) scripts/systemd/$$u >$(DESTDIR)$(UNITDIR)/.$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/.$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/.$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

# Only what install put there, then our own directories if they are empty.
uninstall:
	rm -f $(INST_FILES:%=$(DESTDIR)%)
	@for d in $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d || exit 1; \
	done

clean:
	rm -rf $(BUILD)
