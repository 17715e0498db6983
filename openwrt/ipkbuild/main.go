// Command ipkbuild packs lispd's OpenWrt ipk without the OpenWrt SDK, from
// the feed Makefile (openwrt/lispd/Makefile: metadata, install rules,
// conffiles, prerm) and a lispd binary built for the target. The result has
// the layout of OpenWrt's scripts/ipkg-build and is reproducible: the same
// inputs give the same bytes. `make ipk ARCH=...` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// postinst and prerm are the control scripts OpenWrt's package-pack.mk
// writes into every ipk, verbatim.
const (
	postinst = "#!/bin/sh\n" +
		"[ \"${IPKG_NO_SCRIPT}\" = \"1\" ] && exit 0\n" +
		"[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n" +
		". ${IPKG_INSTROOT}/lib/functions.sh\n" +
		"default_postinst $0 $@\n"
	prerm = "#!/bin/sh\n" +
		"[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n" +
		". ${IPKG_INSTROOT}/lib/functions.sh\n" +
		"default_prerm $0 $@\n"
)

// Arches are the OpenWrt package architectures `make ipk` supports.
var Arches = []string{"mips_24kc", "mipsel_24kc", "arm_cortex-a7_neon-vfpv4", "aarch64_cortex-a53", "x86_64"}

// Options are ipkbuild's inputs.
type Options struct {
	Feed    string // directory of the feed package (openwrt/lispd)
	Binary  string // the lispd binary for Arch
	Arch    string // OpenWrt package architecture
	Version string // upstream version; the ipk's is VERSION-PKG_RELEASE
	Epoch   int64  // SOURCE_DATE_EPOCH
	Source  string // Source: field (where the package lives in an OpenWrt tree)
}

// MakeSpec reads the feed Makefile and the files it installs.
func MakeSpec(o Options) (*Spec, error) {
	known := false
	for _, a := range Arches {
		known = known || a == o.Arch
	}
	if !known {
		return nil, fmt.Errorf("unknown arch %q (known: %s)", o.Arch, strings.Join(Arches, " "))
	}
	if o.Version == "" || strings.ContainsAny(o.Version, " _\n") {
		return nil, fmt.Errorf("bad version %q", o.Version)
	}
	fd, err := ReadFeed(filepath.Join(o.Feed, "Makefile"))
	if err != nil {
		return nil, err
	}
	name := fd.Vars["PKG_NAME"]
	release := fd.Vars["PKG_RELEASE"]
	if name == "" || release == "" {
		return nil, fmt.Errorf("feed Makefile lacks PKG_NAME or PKG_RELEASE")
	}
	version := o.Version + "-" + release
	pv := func(k string) string { return fd.Expand(fd.PackageVar(name, k), nil) }

	var b strings.Builder
	field := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	// Field order and content as include/package-pack.mk writes them.
	field("Package", name)
	field("Version", version)
	field("Depends", depends(fd.PackageVar(name, "DEPENDS")))
	field("Source", o.Source)
	field("SourceName", name)
	field("License", fd.Vars["PKG_LICENSE"])
	field("LicenseFiles", fd.Vars["PKG_LICENSE_FILES"])
	field("Section", pv("SECTION"))
	field("SourceDateEpoch", fmt.Sprint(o.Epoch))
	field("URL", pv("URL"))
	field("Maintainer", fd.Vars["PKG_MAINTAINER"])
	field("Architecture", o.Arch)
	b.WriteString("Installed-Size: 0\n")
	b.WriteString("Description: ")
	for _, line := range strings.Split(strings.TrimRight(fd.Defines["Package/"+name+"/description"], "\n"), "\n") {
		b.WriteString(" " + strings.TrimLeft(line, " \t") + "\n")
	}

	s := &Spec{Name: name, Version: version, Arch: o.Arch, Epoch: o.Epoch, Control: b.String()}
	for _, l := range strings.Split(fd.Defines["Package/"+name+"/conffiles"], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			s.Conffiles = append(s.Conffiles, l)
		}
	}
	s.Scripts = []Entry{{Path: "postinst", Mode: 0o755, Data: []byte(postinst)}, {Path: "prerm", Mode: 0o755, Data: []byte(prerm)}}
	for _, sc := range []struct{ def, file string }{
		{"preinst", "preinst"}, {"postinst", "postinst-pkg"}, {"prerm", "prerm-pkg"}, {"postrm", "postrm"},
	} {
		if body, ok := fd.Defines["Package/"+name+"/"+sc.def]; ok {
			s.Scripts = append(s.Scripts, Entry{Path: sc.file, Mode: 0o755, Data: []byte(body + "\n")})
		}
	}

	ins, err := fd.Installs(name)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if in.Kind == "DIR" {
			s.Data = append(s.Data, Entry{Path: strings.TrimSuffix(in.Dest, "/") + "/", Mode: 0o755})
			continue
		}
		var src string
		switch {
		case strings.HasPrefix(in.Src, "$(GO_PKG_BUILD_BIN_DIR)/"):
			src = o.Binary
		case strings.HasPrefix(in.Src, "./"):
			src = filepath.Join(o.Feed, in.Src)
		default:
			return nil, fmt.Errorf("install source not understood: %q", in.Src)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		dest := in.Dest
		if strings.HasSuffix(dest, "/") {
			dest += filepath.Base(src)
		}
		s.Data = append(s.Data, Entry{Path: dest, Mode: in.Mode(), Data: data})
	}
	// package-pack.mk: conffiles that are not files in the package (the
	// directory /etc/lispd/) go to lib/upgrade/keep.d/NAME, so sysupgrade
	// keeps them too.
	var keep strings.Builder
	for _, c := range s.Conffiles {
		isFile := false
		for _, e := range s.Data {
			isFile = isFile || (e.Path == c && !strings.HasSuffix(e.Path, "/"))
		}
		if !isFile {
			keep.WriteString(c + "\n")
		}
	}
	if keep.Len() > 0 {
		s.Data = append(s.Data, Entry{Path: "/lib/upgrade/keep.d/" + name, Mode: 0o644, Data: []byte(keep.String())})
	}
	return s, nil
}

// depends turns a package's DEPENDS into the control file's Depends the way
// the build system does: +libc first (PKG_FIXUP_DEPENDS adds it to every
// package but kernel modules), selectors (@...) dropped, + stripped.
func depends(decl string) string {
	out := []string{"libc"}
	for _, d := range strings.Fields(decl) {
		if strings.HasPrefix(d, "$(") || strings.HasPrefix(d, "@") {
			continue // $(GO_ARCH_DEPENDS) is a selector: @(aarch64||arm||...)
		}
		d = strings.TrimPrefix(d, "+")
		if d != "libc" {
			out = append(out, d)
		}
	}
	return strings.Join(out, ", ")
}

func main() {
	var o Options
	out := flag.String("o", "build/openwrt", "output directory")
	flag.StringVar(&o.Feed, "feed", "openwrt/lispd", "feed package directory (its Makefile and files/)")
	flag.StringVar(&o.Binary, "binary", "", "lispd binary for -arch")
	flag.StringVar(&o.Arch, "arch", "", "OpenWrt architecture: "+strings.Join(Arches, " "))
	flag.StringVar(&o.Version, "version", "", "upstream version (the ipk gets VERSION-PKG_RELEASE)")
	flag.Int64Var(&o.Epoch, "epoch", 0, "SOURCE_DATE_EPOCH: mtime of every file")
	flag.StringVar(&o.Source, "source", "feeds/packages/net/lispd", "the control file's Source: field")
	zopfli := flag.String("zopfli", "auto", "compress data.tar with the zopfli command: auto (when installed), require, off")
	flag.Parse()
	if o.Binary == "" || o.Arch == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	s, err := MakeSpec(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipkbuild:", err)
		os.Exit(1)
	}
	if s.DataGzip, err = SelectGzipper(*zopfli, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ipkbuild:", err)
		os.Exit(1)
	}
	ipk, _, err := Build(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipkbuild:", err)
		os.Exit(1)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "ipkbuild:", err)
		os.Exit(1)
	}
	dst := filepath.Join(*out, s.FileName())
	if err := os.WriteFile(dst, ipk, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "ipkbuild:", err)
		os.Exit(1)
	}
	fi, err := os.Stat(o.Binary)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipkbuild:", err)
		os.Exit(1)
	}
	fmt.Printf("%-58s %9d bytes (binary %d bytes)\n", dst, len(ipk), fi.Size())
}
