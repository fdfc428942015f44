# vfioctl — set-up, build, demo, tests and benchmarks on Debian 12.
# `make demo` and `make test` install what they need (apt) on a fresh machine.

SWIFT       ?= swift
APT_PACKAGES = libpci-dev libudev-dev libvirt-dev libkmod-dev pciutils pci.ids pkg-config time \
               qemu-system-x86 busybox-static cpio kmod python3
DEBUG_BIN    = .build/debug
RELEASE_BIN  = .build/release
DUMPS        = Tests/Fixtures/pciutils
SNAPSHOTS    = Tests/Fixtures/snapshots
SEED         = $(SNAPSHOTS)/seed-host.tar.gz

LAB_BIN      = .build-lab/release

.PHONY: deps build release demo test unit-test vmlab bench fixtures lint clean

## deps: install the Debian packages vfioctl builds and tests against (needs root).
deps: .deps-stamp
.deps-stamp: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## demo: inspect the bundled seed host (two 82576 behind an IDT switch on X58 root port 3).
demo: release
	$(RELEASE_BIN)/vfioctl inspect --snapshot $(SEED)
	$(RELEASE_BIN)/vfioctl inspect --snapshot $(SEED) --tree

## test: every test: unit, lspci differential, CLI, libvirt and udev, then the real-kernel lab.
test: unit-test vmlab

unit-test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

## vmlab: boot Debian's kernel under QEMU per PCIe topology and check vfioctl against it.
vmlab: deps
	$(SWIFT) build -c release --static-swift-stdlib --product vfioctl --scratch-path .build-lab
	Tests/VMLab/vmlab.sh $(LAB_BIN)

## fixtures: rebuild the snapshots in Tests/Fixtures/snapshots from the real dumps.
fixtures: build
	mkdir -p $(SNAPSHOTS)
	for dump in $$(ls $(DUMPS) | grep -v -e COPYING -e INDEX.txt); do \
	  $(DEBUG_BIN)/vfioctl snapshot create --from-lspci-dump $(DUMPS)/$$dump -o $(SNAPSHOTS)/$$dump.tar.gz || exit 1; \
	done
	rm -rf .build/seed-host && $(DEBUG_BIN)/vfioctl-hostgen seed --dumps $(DUMPS) -o .build/seed-host
	$(DEBUG_BIN)/vfioctl snapshot create --root .build/seed-host -o $(SEED)

## bench: inspect vs lspci on a generated 4,096-function host; prints BENCH lines.
bench: release
	Tests/Bench/inspect-vs-lspci.sh $(RELEASE_BIN)

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests

clean:
	rm -rf .build .build-lab .deps-stamp
