# lispd — build, test, cross-compile, package.
#
#   make            host binary build/lispd
#   make test       every test (installs Debian packages first via make deps)
#   make demo       a demo LISP network in network namespaces
#   make cross      static binaries for router CPUs into build/
#   make bench      Go benchmarks and the netns throughput harness
#   make ipk ARCH=  an OpenWrt package without the SDK (make ipk-all: all five)

SHELL       := /bin/bash
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
PKG         := github.com/lispd/lispd
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Size (issue 6): no inlining (-l) except in the per-packet path: the data
# plane (fwd/...) and what it calls per packet (bart's lookups, net/netip,
# encoding/binary, sync). A later -gcflags pattern wins for the packages it
# matches, and a package's small functions can be inlined elsewhere only
# when it is itself compiled with inlining on. Saves ~8% of the binary.
# INLINE_SMALLER: packages whose code is smaller with inlining than without,
# both the binary and its gzip (measured one by one on the mips build;
# together -9 KB). Others (ctl/admin, os, internal/poll, flag, ...) shrink
# the binary by ~10 KB more but grow the ipk by ~4 KB: inline trees
# compress worse than the calls they replace.
# fwd/rtnl (netlink set-up and events) is not on the packet path and keeps
# -l: inlined, its ~1,100 lines cost ~4.7 KB of the mips ipk.
INLINE_PACKET  := $(PKG)/fwd $(PKG)/fwd/netio $(PKG)/fwd/kpath github.com/gaissmai/bart/... net/netip encoding/binary internal/byteorder sync sync/atomic math/bits unique
INLINE_SMALLER := internal/strconv internal/fmtsort internal/bisect io/fs
GCFLAGS_REL := -gcflags=all=-l $(foreach p,$(INLINE_PACKET) $(INLINE_SMALLER),-gcflags=$(p)=)
# A profile with one hot call, bart's Lookup -> netip.Addr.AsSlice: on
# 32-bit CPUs the compiler does not inline AsSlice (cost 222 > 80), so its
# array escapes and every map-cache lookup the destination cache misses
# allocates. PGO inlines the hot call (and nothing else: +0.3 KB of ipk).
# `make pgo` makes it again.
PGO         := -pgo=$(CURDIR)/fwd/lookup.pgo
GOFLAGS_REL := -trimpath $(GCFLAGS_REL) $(PGO) -ldflags '$(LDFLAGS)'
BUILD       := build

# Debian packages the tests and benchmarks need.
DEB_PKGS := tshark qemu-user-static iproute2 iputils-ping ethtool nftables iperf3 shellcheck tcpdump zopfli

# Packages whose unit tests also run on big-endian 32-bit MIPS and ARM under qemu.
EMU_PKGS := ./conf/... ./ctl/msg/... ./fwd/... ./internal/...

.PHONY: all build test deps lint unit emu shellcheck cross bench demo test-long clean ipk ipk-all size-target pgo

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_REL) -o $(BUILD)/lispd .

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test: deps lint unit emu shellcheck

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './build/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags 'nokernelpath nortr' ./...
	$(GO) run $(STATICCHECK) ./...

# Every Go test, including the end-to-end ones in network namespaces (root).
# LISPD_E2E_REQUIRE=1: an end-to-end test whose daemon does not come up fails
# instead of skipping.
unit:
	LISPD_E2E_REQUIRE=1 $(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -tags 'nokernelpath nortr' ./fwd/ ./ctl/... ./conf/... .
	LISPD_E2E_REQUIRE=1 LISPD_TUN_OFFLOAD=off $(GO) test -count=1 -run '$(E2E_PLAIN)' ./testing/e2e/

# The end-to-end tests run again on the plain TUN path (tun_offload = "off"),
# the path of kernels and devices without offloads: a transfer, 100 MB with
# its counters (no super-packets, no GSO), path MTU, a clean capture and a
# local failover.
E2E_PLAIN := ^(TestTCPTransfer|TestOffloadTCPTransfer100MB|TestPathMTU|TestCoreCaptureIsLISPData|TestMultihomingLocalFailover)$$

# Codec, config and data-plane tests on big-endian 32-bit MIPS and on ARM,
# under qemu-user. Tests that build network namespaces (TestNetns*) stay on
# the host: qemu-user does not translate every netlink message.
EMU_SKIP := ^TestNetns
# Built with the release profile (PGO) so that the lookups' allocation tests
# hold on 32-bit too (LISPD_PGO=1 tells them to expect none).
emu:
	LISPD_PGO=1 GOARCH=mips GOMIPS=softfloat CGO_ENABLED=0 $(GO) test $(PGO) -count=1 -skip '$(EMU_SKIP)' -exec qemu-mips-static $(EMU_PKGS)
	LISPD_PGO=1 GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) test $(PGO) -count=1 -skip '$(EMU_SKIP)' -exec qemu-arm-static $(EMU_PKGS)

# The release builds' PGO profile (see PGO above): the map-cache lookup
# benchmark's CPU profile cut down to the one call it is for.
pgo:
	$(GO) test -run '^$$' -bench 'BenchmarkMapCacheLookup' -benchtime 2s -cpuprofile $(BUILD)/lookup.cpu -o $(BUILD)/fwd.test ./fwd/
	$(GO) tool pprof -proto -focus='netip.Addr.AsSlice' -show='netip.Addr.AsSlice|bart\.\(\*Table' $(BUILD)/fwd.test $(BUILD)/lookup.cpu > fwd/lookup.pgo

# Every shell script in the repository: files named *.sh and files whose
# first line is a sh/bash shebang.
shellcheck:
	@files=$$(for f in $$(git ls-files); do \
	  case $$f in *.sh) echo $$f; continue;; esac; \
	  head -n1 "$$f" 2>/dev/null | grep -qE '^#!.*/(env )?(ba)?sh' && echo $$f; \
	done); echo shellcheck $$files; shellcheck $$files

cross:
	@mkdir -p $(BUILD)
	@set -e; for t in mips:softfloat mipsle:softfloat arm:7 arm64: amd64:; do \
	  arch=$${t%%:*}; opt=$${t#*:}; out=$(BUILD)/lispd-linux-$$arch; \
	  env CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOMIPS=$$([ "$${arch#mips}" != "$$arch" ] && echo $$opt) \
	    GOARM=$$([ $$arch = arm ] && echo $$opt) $(GO) build $(GOFLAGS_REL) -o $$out . ; \
	  printf '%-28s %9d bytes\n' $$out $$(stat -c %s $$out); \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./testing/cmd/bench

demo: build
	$(GO) run ./testing/cmd/demo

test-long:
	LISPD_LONG=1 $(GO) test -count=1 -timeout 60m ./testing/...

clean:
	rm -rf $(BUILD)

-include openwrt/ipk.mk

# The OpenWrt size target of issue 6 (mips_24kc ipk <= 1.3 MB, binary <= 3.5 MB).
size-target:
	LISPD_SIZE_TARGET=1 $(GO) test -count=1 -run TestIPKAll ./openwrt/ipkbuild/

# A lispd that can write a CPU profile: lispd run -cpuprofile FILE.
profile:
	$(GO) build -tags pprof -o $(BUILD)/lispd-pprof .
