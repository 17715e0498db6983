package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Entry is one file of a package tree (data or control).
type Entry struct {
	Path string // absolute inside the tree, e.g. /usr/sbin/lispd; a directory ends in /
	Mode int64
	Data []byte
}

// Spec describes one ipk.
type Spec struct {
	Name    string
	Version string // upstream-release, e.g. 0.1.0-1
	Arch    string
	Epoch   int64 // SOURCE_DATE_EPOCH: every mtime in the package

	Control   string   // control file without Installed-Size's value filled in
	Conffiles []string // as declared (a directory means every file under it)
	Scripts   []Entry  // postinst, prerm, prerm-pkg, ... (Path is the bare name)
	Data      []Entry  // files; directories are added from their paths

	// DataGzip compresses data.tar (nil: compress/gzip at BestCompression,
	// as for control.tar.gz and the outer file).
	DataGzip Gzipper
}

// FileName is the ipk's name as ipkg-build writes it: NAME_VERSION_ARCH.ipk.
func (s *Spec) FileName() string { return s.Name + "_" + s.Version + "_" + s.Arch + ".ipk" }

// Build packs the ipk the way OpenWrt's scripts/ipkg-build does: a gzip'd
// tar (GNU format, numeric owner 0/0, entries sorted by name, every mtime
// SOURCE_DATE_EPOCH, gzip without name or timestamp) of ./debian-binary,
// ./data.tar.gz and ./control.tar.gz. The same Spec always gives the same
// bytes.
func Build(s *Spec) (ipk []byte, installedSize int64, err error) {
	mtime := time.Unix(s.Epoch, 0)
	dataTar, err := tarTree(s.Data, mtime)
	if err != nil {
		return nil, 0, fmt.Errorf("data.tar: %w", err)
	}
	installedSize = int64(len(dataTar)) // ipkg-build: zcat data.tar.gz | wc -c

	control := strings.Replace(s.Control, "Installed-Size: 0\n", fmt.Sprintf("Installed-Size: %d\n", installedSize), 1)
	ctl := []Entry{{Path: "/control", Mode: 0o644, Data: []byte(control)}}
	if cf := resolveConffiles(s.Conffiles, s.Data); len(cf) > 0 {
		ctl = append(ctl, Entry{Path: "/conffiles", Mode: 0o644, Data: []byte(strings.Join(cf, "\n") + "\n")})
	}
	for _, sc := range s.Scripts {
		ctl = append(ctl, Entry{Path: "/" + sc.Path, Mode: sc.Mode, Data: sc.Data})
	}
	ctlTar, err := tarTree(ctl, mtime)
	if err != nil {
		return nil, 0, fmt.Errorf("control.tar: %w", err)
	}

	dataGzip := Gzipper(gz)
	if s.DataGzip != nil {
		dataGzip = s.DataGzip
	}
	dataGz, err := dataGzip(dataTar)
	if err != nil {
		return nil, 0, fmt.Errorf("data.tar.gz: %w", err)
	}
	ctlGz, err := gz(ctlTar)
	if err != nil {
		return nil, 0, err
	}
	// The outer tar lists its three members in ipkg-build's order.
	var outer bytes.Buffer
	tw := tar.NewWriter(&outer)
	for _, m := range []Entry{
		{Path: "./debian-binary", Mode: 0o644, Data: []byte("2.0\n")},
		{Path: "./data.tar.gz", Mode: 0o644, Data: dataGz},
		{Path: "./control.tar.gz", Mode: 0o644, Data: ctlGz},
	} {
		if err := writeEntry(tw, m.Path, m.Mode, m.Data, false, mtime); err != nil {
			return nil, 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, 0, err
	}
	ipk, err = gz(outer.Bytes())
	return ipk, installedSize, err
}

// resolveConffiles expands conffiles as ipkg-build does (find PATH -type f),
// sorted in the C locale.
func resolveConffiles(decl []string, data []Entry) []string {
	seen := map[string]bool{}
	for _, d := range decl {
		for _, e := range data {
			if strings.HasSuffix(e.Path, "/") {
				continue
			}
			if e.Path == d || (strings.HasSuffix(d, "/") && strings.HasPrefix(e.Path, d)) ||
				strings.HasPrefix(e.Path, strings.TrimSuffix(d, "/")+"/") {
				seen[e.Path] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// tarTree writes files and every parent directory as `tar -C tree -c .`
// with --sort=name does: "./" first, then depth first, names in byte order.
func tarTree(files []Entry, mtime time.Time) ([]byte, error) {
	type node struct {
		dir      bool
		mode     int64
		data     []byte
		children map[string]*node
	}
	root := &node{dir: true, mode: 0o755, children: map[string]*node{}}
	for _, f := range files {
		isDir := strings.HasSuffix(f.Path, "/")
		parts := strings.Split(strings.Trim(f.Path, "/"), "/")
		n := root
		for i, p := range parts {
			if p == "" || p == "." || p == ".." {
				return nil, fmt.Errorf("bad path %q", f.Path)
			}
			c, ok := n.children[p]
			last := i == len(parts)-1
			if !ok {
				c = &node{dir: !last || isDir, mode: 0o755}
				if c.dir {
					c.children = map[string]*node{}
				}
				n.children[p] = c
			}
			if last {
				if c.dir != isDir {
					return nil, fmt.Errorf("%s is both a file and a directory", f.Path)
				}
				if !isDir {
					c.mode, c.data = f.Mode, f.Data
				} else if f.Mode != 0 {
					c.mode = f.Mode
				}
			}
			n = c
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var walk func(name string, n *node) error
	walk = func(name string, n *node) error {
		if n.dir {
			if err := writeEntry(tw, name+"/", n.mode, nil, true, mtime); err != nil {
				return err
			}
			keys := make([]string, 0, len(n.children))
			for k := range n.children {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if err := walk(name+"/"+k, n.children[k]); err != nil {
					return err
				}
			}
			return nil
		}
		return writeEntry(tw, name, n.mode, n.data, false, mtime)
	}
	if err := walk(".", root); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeEntry writes one GNU-format member owned by 0/0 without user or
// group names (tar --numeric-owner).
func writeEntry(tw *tar.Writer, name string, mode int64, data []byte, dir bool, mtime time.Time) error {
	h := &tar.Header{
		Name:    name,
		Mode:    mode,
		ModTime: mtime,
		Format:  tar.FormatGNU,
	}
	if dir {
		h.Typeflag = tar.TypeDir
	} else {
		h.Typeflag = tar.TypeReg
		h.Size = int64(len(data))
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// gz compresses like `gzip -n`: no file name, no timestamp.
func gz(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
