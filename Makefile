# vfioctl — set-up, build, demo, tests and benchmarks on Debian 12.
# `make demo` and `make test` install what they need (apt) on a fresh machine.

SWIFT       ?= swift
# What building and the demo need (the C libraries' headers, pci.ids for device names) ...
DEMO_PACKAGES = libpci-dev libudev-dev libvirt-dev libkmod-dev libsqlite3-dev pci.ids pkg-config
# ... what `make deb` adds (dpkg-shlibdeps, dpkg-gencontrol, strip) ...
DEB_PACKAGES  = $(DEMO_PACKAGES) dpkg-dev
# ... and what the tests add: lspci for the differential, the lab's QEMU and initramfs, a real
# libvirtd, lintian and systemd-analyze for the package test, Graphviz and Chromium for the
# pictures and the HTML report, promtool (prometheus) and node_exporter for the metrics, PyYAML
# for reading back the KubeVirt fragment.
TEST_PACKAGES = $(DEB_PACKAGES) initramfs-tools-core pciutils time \
                qemu-system-x86 busybox-static cpio kmod python3 \
                libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients \
                lintian systemd graphviz chromium prometheus prometheus-node-exporter python3-yaml
DEBUG_BIN    = .build/debug
MAN_DIR      = .build/plugins/GenerateManual/outputs
RELEASE_BIN  = .build/release
DUMPS        = Tests/Fixtures/pciutils
SNAPSHOTS    = Tests/Fixtures/snapshots
SEED         = $(SNAPSHOTS)/seed-host.tar.gz

LAB_BIN      = .build-lab/release

PREFIX      ?= /usr/local
HOOK_DIR    ?= /etc/libvirt/hooks/qemu.d

.PHONY: deps deps-demo deps-deb build release static-release demo test unit-test libvirt-test \
        package-test vmlab bench fixtures install deb man lint clean

# apt-get install the missing ones of $(1) (needs root when any is missing).
apt_install = missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## deps-demo: the Debian packages vfioctl builds against (needs root); no QEMU, libvirtd or lintian.
deps-demo: .deps-demo-stamp
.deps-demo-stamp: Makefile
	@$(call apt_install,$(DEMO_PACKAGES))
	@touch $@

## deps-deb: those and dpkg-dev, for `make deb`.
deps-deb: .deps-deb-stamp
.deps-deb-stamp: Makefile
	@$(call apt_install,$(DEB_PACKAGES))
	@touch $@

## deps: everything the tests need too (the lab's QEMU, libvirtd, lintian ...).
deps: .deps-stamp
.deps-stamp: Makefile
	@$(call apt_install,$(TEST_PACKAGES))
	@touch $@

build: deps-demo
	$(SWIFT) build

release: deps-demo
	$(SWIFT) build -c release

## static-release: vfioctl and vfio-aerd with the Swift runtime linked in (the lab and the package).
static-release: deps-demo
	$(SWIFT) build -c release --static-swift-stdlib --product vfioctl --scratch-path .build-lab
	$(SWIFT) build -c release --static-swift-stdlib --product vfio-aerd --scratch-path .build-lab

## demo: inspect the bundled seed host (two 82576 behind an IDT switch on X58 root port 3).
demo: release
	$(RELEASE_BIN)/vfioctl inspect --snapshot $(SEED)
	$(RELEASE_BIN)/vfioctl inspect --snapshot $(SEED) --tree

## test: every test: the format lint, unit, lspci differential, CLI, fault injection, a short
## fuzz of every parser, libvirt and udev, the
## hook and vfio-aerd under a real libvirtd, the Debian package, then the real-kernel lab.
test: lint unit-test fuzz-smoke libvirt-test package-test vmlab

unit-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## libvirt-test: the hook and vfio-aerd under a real libvirtd (started and stopped by the test).
libvirt-test: unit-test
	Tests/Libvirt/libvirt-test.sh $(DEBUG_BIN)

## vmlab: boot Debian's kernel under QEMU per PCIe topology and check vfioctl against it.
vmlab: deps static-release
	Tests/VMLab/vmlab.sh $(LAB_BIN)

## deb: vfioctl_<version>-<revision>_<arch>.deb in .build/deb (Docs/manual.md, "Debian package"):
## the static binaries, units, libvirt hook, conffiles, man pages, completions.
VERSION       := $(shell sed -n 's/.*static let version = "\(.*\)"/\1/p' Sources/VFIOCtlCommands/VFIOCtl.swift)
DEB_REVISION  ?= 1
DEB_MAINTAINER ?= vfioctl developers <maintainers@users.noreply.h-seed-66ecf91a.example>
DEB_DIR        = .build/deb
DEB            = $(DEB_DIR)/vfioctl_$(VERSION)-$(DEB_REVISION)_$(shell dpkg --print-architecture).deb

deb: deps-deb static-release man
	Packaging/deb/build-deb.sh $(VERSION) $(DEB_REVISION) $(LAB_BIN) $(MAN_DIR) $(DEB_DIR) "$(DEB_MAINTAINER)"

## package-test: lintian on the .deb, then install, run, verify the units and purge it in a
## throw-away dpkg root (nothing on this machine is installed or started).
package-test: deps deb
	Tests/Package/package-test.sh $(DEB)

## fuzz: libFuzzer (with AddressSanitizer) on every parser of untrusted input: config space,
## lspci dumps, TOML and quirk files, domain XML, uevent properties; FUZZ_SECONDS per target.
## Prints `FUZZ <target> <executions> execs <crashes> crashes`; fails on a crash.
## The build has its own scratch path; Package.swift adds the targets and -sanitize=fuzzer,address
## only with VFIOCTL_FUZZ.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = config-space lspci-dump toml domain-xml uevent snapshot iomem
FUZZ_BIN      = .build-fuzz/release/vfioctl-fuzz

.PHONY: fuzz fuzz-smoke

fuzz: deps
	VFIOCTL_FUZZ=1 $(SWIFT) build -c release --scratch-path .build-fuzz --product vfioctl-fuzz
	Tests/Fuzz/fuzz.sh $(FUZZ_BIN) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## fuzz-smoke: every fuzz target for 5 seconds.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=5

## fixtures: rebuild the snapshots in Tests/Fixtures/snapshots from the real dumps.
fixtures: build
	mkdir -p $(SNAPSHOTS)
	for dump in $$(ls $(DUMPS) | grep -v -e COPYING -e INDEX.txt); do \
	  $(DEBUG_BIN)/vfioctl snapshot create --from-lspci-dump $(DUMPS)/$$dump -o $(SNAPSHOTS)/$$dump.tar.gz || exit 1; \
	done
	rm -rf .build/seed-host && $(DEBUG_BIN)/vfioctl-hostgen seed --dumps $(DUMPS) -o .build/seed-host
	$(DEBUG_BIN)/vfioctl snapshot create --root .build/seed-host -o $(SEED)

## bench: inspect vs lspci on a generated 4,096-function host (one core, unpinned, CPU; the
## read floor; FUNCTIONS=65536 adds the scaling), an lspci dump of 10,000 functions, the
## hook's prepare time and vfio-aerd; prints BENCH lines. (The lab prints the VT-d DMA figures.)
bench: deps release
	Tests/Bench/inspect-vs-lspci.sh $(RELEASE_BIN)
	Tests/Bench/hook-prepare.sh $(RELEASE_BIN)
	Tests/Bench/aerd.sh $(RELEASE_BIN)

## install: vfioctl to $(PREFIX)/bin, the libvirt hook to $(HOOK_DIR) (restart libvirtd
## afterwards: it finds hooks at start-up), a default /etc/vfioctl/hook.toml if none exists,
## and vfioctl-apply.service (enable it with systemctl to apply /etc/vfioctl/desired.toml at boot).
install: release man
	install -D -m 755 $(RELEASE_BIN)/vfioctl $(DESTDIR)$(PREFIX)/bin/vfioctl
	install -D -m 755 $(RELEASE_BIN)/vfio-aerd $(DESTDIR)$(PREFIX)/bin/vfio-aerd
	install -d $(DESTDIR)$(HOOK_DIR)
	printf '#!/bin/sh\n# vfioctl: check and prepare PCI devices for libvirt guests (Docs/manual.md)\nexec $(PREFIX)/bin/vfioctl hook libvirt "$$@"\n' > $(DESTDIR)$(HOOK_DIR)/vfioctl
	chmod 755 $(DESTDIR)$(HOOK_DIR)/vfioctl
	test -e $(DESTDIR)/etc/vfioctl/hook.toml || install -D -m 644 Docs/hook.toml.example $(DESTDIR)/etc/vfioctl/hook.toml
	test -e $(DESTDIR)/etc/vfioctl/aerd.toml || install -D -m 644 Docs/aerd.toml.example $(DESTDIR)/etc/vfioctl/aerd.toml
	install -D -m 644 systemd/vfioctl-apply.service $(DESTDIR)/etc/systemd/system/vfioctl-apply.service
	install -D -m 644 systemd/vfio-aerd.service $(DESTDIR)/etc/systemd/system/vfio-aerd.service
	install -D -m 644 systemd/vfioctl-metrics.service $(DESTDIR)/etc/systemd/system/vfioctl-metrics.service
	install -D -m 644 systemd/vfioctl-metrics.timer $(DESTDIR)/etc/systemd/system/vfioctl-metrics.timer
	install -D -m 644 Docs/manual.md $(DESTDIR)$(PREFIX)/share/doc/vfioctl/manual.md
	mkdir -p .build/completions
	$(RELEASE_BIN)/vfioctl --generate-completion-script bash > .build/completions/vfioctl
	$(RELEASE_BIN)/vfioctl --generate-completion-script zsh > .build/completions/_vfioctl
	$(RELEASE_BIN)/vfioctl --generate-completion-script fish > .build/completions/vfioctl.fish
	install -D -m 644 .build/completions/vfioctl $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vfioctl
	install -D -m 644 .build/completions/_vfioctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_vfioctl
	install -D -m 644 .build/completions/vfioctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/vfioctl.fish
	install -D -m 644 $(MAN_DIR)/vfioctl/vfioctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/vfioctl.8
	install -D -m 644 $(MAN_DIR)/vfio-aerd/vfio-aerd.8 $(DESTDIR)$(PREFIX)/share/man/man8/vfio-aerd.8

## man: manual pages (section 8) from the commands' own --help, with their examples.
man: deps-demo
	$(SWIFT) package generate-manual --section 8 --authors "the vfioctl developers"

## lint: swift format with the checked-in .swift-format (4 spaces, 120 columns), strict.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Plugins Package.swift
	Docs/module-graph.py --check

clean:
	rm -rf .build .build-lab .deps-stamp .deps-demo-stamp .deps-deb-stamp
