# OpenWrt packages without the SDK (included by the top Makefile).
#
#   make ipk ARCH=mips_24kc     build/openwrt/lispd_<version>-1_mips_24kc.ipk
#   make ipk-all                all five architectures below
#
# The binary is built static (CGO_ENABLED=0, -trimpath, -s -w, version
# stamped) for the architecture's GOARCH; openwrt/ipkbuild packs it with the
# files, metadata, conffiles and scripts of the feed Makefile
# openwrt/lispd/Makefile, in the layout of OpenWrt's ipkg-build. Every mtime
# is SOURCE_DATE_EPOCH (the last commit's time), so the same tree gives the
# same bytes.

IPK_ARCHS := mips_24kc mipsel_24kc arm_cortex-a7_neon-vfpv4 aarch64_cortex-a53 x86_64
IPK_DIR   ?= $(BUILD)/openwrt

# Go target of each OpenWrt architecture (softfloat: these MIPS cores have no FPU).
IPK_GOENV_mips_24kc                := GOARCH=mips GOMIPS=softfloat
IPK_GOENV_mipsel_24kc              := GOARCH=mipsle GOMIPS=softfloat
IPK_GOENV_arm_cortex-a7_neon-vfpv4 := GOARCH=arm GOARM=7
IPK_GOENV_aarch64_cortex-a53       := GOARCH=arm64
IPK_GOENV_x86_64                   := GOARCH=amd64

# Size (issue 6): the linker aligns each segment's file offset to its page
# quantum, 64 KiB by default on mips and arm, so the file carries up to
# 64 KiB of zeros per segment. OpenWrt's 32-bit MIPS and ARM kernels use
# 4 KiB pages: -R 4096 drops ~100 KB of padding, code and data unchanged.
IPK_LDEXTRA_mips_24kc                := -R 4096
IPK_LDEXTRA_mipsel_24kc              := -R 4096
IPK_LDEXTRA_arm_cortex-a7_neon-vfpv4 := -R 4096

# The experimental in-kernel (eBPF) data path (xtr.kernel_path, fwd/kpath)
# costs ~44 KB of the mips ipk, over issue 6's 1.3 MB: the package leaves it
# out (-tags nokernelpath) unless IPK_KERNEL_PATH=1, as the feed Makefile
# does unless CONFIG_LISPD_KERNEL_PATH is selected.
IPK_KERNEL_PATH ?= 0
# The RTR role ([rtr]: re-encapsulation for xTRs behind a NAT, a public
# host's job rather than a home router's) costs ~20 KB of the mips ipk (~72 KB of binary):
# left out (-tags nortr) unless IPK_RTR=1, as the feed Makefile does unless
# CONFIG_LISPD_RTR is selected.
IPK_RTR ?= 0
# -tags takes a comma-separated list.
IPK_COMMA := ,
IPK_EMPTY :=
IPK_SPACE := $(IPK_EMPTY) $(IPK_EMPTY)
IPK_TAGS := $(subst $(IPK_SPACE),$(IPK_COMMA),$(strip \
  $(if $(filter 1,$(IPK_KERNEL_PATH)),,nokernelpath) $(if $(filter 1,$(IPK_RTR)),,nortr)))

# Size: Go 1.26's default garbage collector (Green Tea) costs ~9 KB of the
# mips ipk. The package keeps Go's previous collector through Go 1.26's
# documented opt-out, GOEXPERIMENT=nogreenteagc: a router's heap is small
# (lispd's RSS is ~11 MB under load) and Green Tea's gains are on many cores
# and large heaps. Go 1.27 removes the opt-out, so it is set only for Go
# 1.26; with a later Go the ipk test will say when the 1.3 MB target needs a
# saving elsewhere.
IPK_GOEXPERIMENT := $(if $(filter go1.26%,$(shell $(GO) env GOVERSION 2>/dev/null)),GOEXPERIMENT=nogreenteagc)

SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null | grep . || echo 0)
# opkg version: git describe without the leading v and with '-' (the
# release separator) turned into '.'; an untagged tree (a bare commit hash)
# becomes 0~gHASH, which sorts before any release.
IPK_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v//' -e 's/-/./g' -e '/^[0-9][0-9]*\([.~+]\|$$\)/!s/^/0~g/')

# data.tar.gz is compressed by zopfli (Debian package zopfli, installed by
# make deps): standard gzip, ~6% smaller than Go's. IPK_ZOPFLI=auto falls
# back to compress/gzip with a note when zopfli is missing, require fails,
# off never uses it.
IPK_ZOPFLI ?= auto

ipk:
	@case " $(IPK_ARCHS) " in *" $(ARCH) "*) ;; \
	  *) echo "make ipk: set ARCH to one of: $(IPK_ARCHS)" >&2; exit 2;; esac
	@mkdir -p $(IPK_DIR)/$(ARCH)
	env CGO_ENABLED=0 GOOS=linux $(IPK_GOEXPERIMENT) $(IPK_GOENV_$(ARCH)) $(GO) build -buildvcs=false -tags '$(IPK_TAGS)' $(GOFLAGS_REL) -ldflags '$(LDFLAGS) $(IPK_LDEXTRA_$(ARCH))' -o $(IPK_DIR)/$(ARCH)/lispd .
	$(GO) run ./openwrt/ipkbuild -arch $(ARCH) -binary $(IPK_DIR)/$(ARCH)/lispd \
	  -version $(IPK_VERSION) -epoch $(SOURCE_DATE_EPOCH) -feed openwrt/lispd -zopfli $(IPK_ZOPFLI) -o $(IPK_DIR)

ipk-all:
	@set -e; for a in $(IPK_ARCHS); do $(MAKE) --no-print-directory ipk ARCH=$$a; done
