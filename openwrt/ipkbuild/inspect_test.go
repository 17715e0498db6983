package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// member is one tar entry of an unpacked ipk.
type member struct {
	Name     string
	Mode     int64
	Dir      bool
	Uid, Gid int
	Uname    string
	Gname    string
	ModTime  time.Time
	Format   tar.Format
	Data     []byte
}

// unpacked is an ipk taken apart the way opkg does.
type unpacked struct {
	Outer   []member
	Data    []member
	Control []member
	Fields  []string          // control field names in order
	Field   map[string]string // control field values (Description: first line)
	GzipOK  bool              // every gzip header without name and timestamp
}

func (u *unpacked) file(list []member, name string) *member {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func untar(b []byte) ([]member, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	var out []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, member{Name: h.Name, Mode: h.Mode, Dir: h.Typeflag == tar.TypeDir, Uid: h.Uid, Gid: h.Gid,
			Uname: h.Uname, Gname: h.Gname, ModTime: h.ModTime, Format: h.Format, Data: data})
	}
}

func gunzip(b []byte) ([]byte, bool, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, false, err
	}
	clean := zr.Name == "" && zr.ModTime.IsZero()
	out, err := io.ReadAll(zr)
	return out, clean, err
}

func unpack(ipk []byte) (*unpacked, error) {
	u := &unpacked{Field: map[string]string{}, GzipOK: true}
	outerTar, ok, err := gunzip(ipk)
	if err != nil {
		return nil, fmt.Errorf("outer gzip (an ipk is a gzip'd tar, not ar): %w", err)
	}
	u.GzipOK = u.GzipOK && ok
	if u.Outer, err = untar(outerTar); err != nil {
		return nil, fmt.Errorf("outer tar: %w", err)
	}
	for _, m := range u.Outer {
		var dst *[]member
		switch m.Name {
		case "./data.tar.gz":
			dst = &u.Data
		case "./control.tar.gz":
			dst = &u.Control
		default:
			continue
		}
		t, ok, err := gunzip(m.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		u.GzipOK = u.GzipOK && ok
		if *dst, err = untar(t); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	c := u.file(u.Control, "./control")
	if c == nil {
		return nil, fmt.Errorf("no ./control in control.tar.gz")
	}
	for _, line := range strings.Split(string(c.Data), "\n") {
		if line == "" || strings.HasPrefix(line, " ") {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("control line %q", line)
		}
		u.Fields = append(u.Fields, k)
		u.Field[k] = v
	}
	return u, nil
}

// repoRoot is the module root (two levels up from this package).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", dir)
	}
	return dir
}

// wantFields are the control fields OpenWrt's package-pack.mk writes for
// this package, in its order.
var wantFields = []string{"Package", "Version", "Depends", "Source", "SourceName", "License", "LicenseFiles",
	"Section", "SourceDateEpoch", "URL", "Maintainer", "Architecture", "Installed-Size", "Description"}

// checkLayout checks everything about an ipk but the binary's contents.
func checkLayout(t *testing.T, ipk []byte, arch string, epoch int64) *unpacked {
	t.Helper()
	u, err := unpack(ipk)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for _, m := range u.Outer {
		outer = append(outer, m.Name)
	}
	if got := strings.Join(outer, " "); got != "./debian-binary ./data.tar.gz ./control.tar.gz" {
		t.Errorf("outer members %q", got)
	}
	if db := u.file(u.Outer, "./debian-binary"); db == nil || string(db.Data) != "2.0\n" {
		t.Errorf("debian-binary: %+v", db)
	}
	if !u.GzipOK {
		t.Error("a gzip header carries a name or timestamp (want gzip -n)")
	}
	for _, list := range [][]member{u.Outer, u.Data, u.Control} {
		prev := ""
		for _, m := range list {
			if m.Uid != 0 || m.Gid != 0 || m.Uname != "" || m.Gname != "" {
				t.Errorf("%s: owner %d/%d %q/%q, want numeric 0/0", m.Name, m.Uid, m.Gid, m.Uname, m.Gname)
			}
			if m.ModTime.Unix() != epoch {
				t.Errorf("%s: mtime %d, want SOURCE_DATE_EPOCH %d", m.Name, m.ModTime.Unix(), epoch)
			}
			if m.Format != tar.FormatGNU {
				t.Errorf("%s: tar format %v, want GNU", m.Name, m.Format)
			}
			if list[0].Name == "./" && prev != "" && strings.TrimSuffix(m.Name, "/") < strings.TrimSuffix(prev, "/") {
				t.Errorf("%s after %s: not sorted by name", m.Name, prev)
			}
			prev = m.Name
		}
	}
	wantData := map[string]int64{
		"./": 0o755, "./etc/": 0o755, "./etc/config/": 0o755, "./etc/config/lispd": 0o600,
		"./etc/init.d/": 0o755, "./etc/init.d/lispd": 0o755, "./etc/lispd/": 0o755, "./etc/lispd/lispd.toml": 0o600,
		"./etc/uci-defaults/": 0o755, "./etc/uci-defaults/90-lispd-firewall": 0o755,
		"./usr/": 0o755, "./usr/sbin/": 0o755, "./usr/sbin/lispd": 0o755,
		"./lib/": 0o755, "./lib/upgrade/": 0o755, "./lib/upgrade/keep.d/": 0o755, "./lib/upgrade/keep.d/lispd": 0o644,
	}
	if len(u.Data) != len(wantData) {
		t.Errorf("data.tar.gz has %d entries, want %d", len(u.Data), len(wantData))
	}
	for _, m := range u.Data {
		mode, ok := wantData[m.Name]
		if !ok {
			t.Errorf("unexpected data entry %s", m.Name)
		} else if m.Mode != mode {
			t.Errorf("%s: mode %o, want %o", m.Name, m.Mode, mode)
		}
	}
	wantCtl := map[string]int64{"./": 0o755, "./control": 0o644, "./conffiles": 0o644, "./postinst": 0o755, "./prerm": 0o755, "./prerm-pkg": 0o755}
	if len(u.Control) != len(wantCtl) {
		t.Errorf("control.tar.gz has %d entries, want %d", len(u.Control), len(wantCtl))
	}
	for _, m := range u.Control {
		if mode, ok := wantCtl[m.Name]; !ok || m.Mode != mode {
			t.Errorf("control entry %s mode %o (known %v)", m.Name, m.Mode, ok)
		}
	}
	if got := strings.Join(u.Fields, " "); got != strings.Join(wantFields, " ") {
		t.Errorf("control fields\n got %s\nwant %s", got, strings.Join(wantFields, " "))
	}
	for k, v := range map[string]string{"Package": "lispd", "Depends": "libc, kmod-tun", "SourceName": "lispd",
		"Section": "net", "Architecture": arch, "SourceDateEpoch": fmt.Sprint(epoch), "License": "Apache-2.0"} {
		if u.Field[k] != v {
			t.Errorf("control %s: %q, want %q", k, u.Field[k], v)
		}
	}
	if !strings.HasSuffix(u.Field["Version"], "-1") {
		t.Errorf("Version %q does not end in -PKG_RELEASE (-1)", u.Field["Version"])
	}
	// Installed-Size is the size of the uncompressed data.tar, as ipkg-build
	// computes it.
	dataGz := u.file(u.Outer, "./data.tar.gz")
	if dataTar, _, err := gunzip(dataGz.Data); err != nil || u.Field["Installed-Size"] != fmt.Sprint(len(dataTar)) {
		t.Errorf("Installed-Size %s, data.tar is %d bytes (%v)", u.Field["Installed-Size"], len(dataTar), err)
	}
	if cf := u.file(u.Control, "./conffiles"); cf == nil || string(cf.Data) != "/etc/config/lispd\n/etc/lispd/lispd.toml\n" {
		t.Errorf("conffiles: %+v", cf)
	}
	// As package-pack.mk does for a conffile that is not a file.
	if k := u.file(u.Data, "./lib/upgrade/keep.d/lispd"); k == nil || string(k.Data) != "/etc/lispd/\n" {
		t.Errorf("keep.d: %+v", k)
	}
	if p := u.file(u.Control, "./postinst"); p == nil || !strings.Contains(string(p.Data), "\ndefault_postinst $0 $@\n") {
		t.Error("postinst does not call default_postinst")
	}
	if p := u.file(u.Control, "./prerm"); p == nil || !strings.Contains(string(p.Data), "\ndefault_prerm $0 $@\n") {
		t.Error("prerm does not call default_prerm")
	}
	// Shipped files are the feed's files byte for byte.
	feed := filepath.Join(repoRoot(t), "openwrt", "lispd", "files")
	for name, src := range map[string]string{"./etc/config/lispd": "lispd.config", "./etc/init.d/lispd": "lispd.init",
		"./etc/lispd/lispd.toml": "lispd.toml", "./etc/uci-defaults/90-lispd-firewall": "lispd.defaults"} {
		want, err := os.ReadFile(filepath.Join(feed, src))
		if err != nil {
			t.Fatal(err)
		}
		if m := u.file(u.Data, name); m == nil || !bytes.Equal(m.Data, want) {
			t.Errorf("%s differs from files/%s", name, src)
		}
	}
	return u
}
