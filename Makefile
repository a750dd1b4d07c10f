# MXFS top-level build. `make demo` runs the product in a VM cluster, `make check` runs every
# test. Heavy artifacts (test kernel, bindgen) are cached outside the tree (qemu-ci/common.sh).

SHELL := /bin/bash
CARGO ?= cargo
KDIR_CMD := bash qemu-ci/kernel.sh
CACHE ?= $(or $(MXFS_CACHE),/var/cache/mxfs)
BINDGEN := $(CACHE)/tools/bin/bindgen

.PHONY: all deps kernel module userspace check demo bench install clean

all: module userspace

deps:
	@bash qemu-ci/deps.sh

kernel: deps
	@$(KDIR_CMD) >/dev/null

# The module is built against the cached test kernel unless KDIR is given.
module: kernel
	@set -e; kdir=$${KDIR:-$$($(KDIR_CMD))}; \
	gen=target/kernel/bindings_generated.rs; mkdir -p target/kernel; \
	if [ ! -f $$gen ] || [ kernel/bindings_helper.h -nt $$gen ] || [ kernel/bindings.allow -nt $$gen ] \
	   || [ "$$(cat target/kernel/kdir 2>/dev/null)" != "$$kdir" ]; then \
		echo "  BINDGEN $$gen"; \
		kernel/gen-bindings.sh "$$kdir" "$(BINDGEN)" $$gen; \
		echo "$$kdir" > target/kernel/kdir; \
	fi; \
	$(MAKE) -s -C "$$kdir" M=$(CURDIR) LLVM=1 RUSTC=/usr/bin/rustc BINDGEN=$(BINDGEN) modules

userspace:
	@$(CARGO) build --release --workspace --quiet

check: module userspace
	@bash tests/check.sh

demo: module userspace
	@bash qemu-ci/demo.sh

# Benchmarks (not tests): mxfs against plain XFS in one VM; owner, member and NFS in two VMs;
# cluster lock latencies.
bench: module userspace
	@bash qemu-ci/deps.sh bench
	@bash tests/bench/run.sh
	@bash tests/bench/cluster.sh
	@bash tests/netns/bench.sh

install: all
	install -D -m 0755 target/release/mxfsd $(DESTDIR)/usr/sbin/mxfsd
	install -D -m 0755 target/release/mxfsadm $(DESTDIR)/usr/sbin/mxfsadm
	install -D -m 0755 target/release/mount-mxfs $(DESTDIR)/sbin/mount.mxfs

clean:
	@kdir=$$($(KDIR_CMD) 2>/dev/null) && $(MAKE) -s -C "$$kdir" M=$(CURDIR) clean || true
	$(CARGO) clean
