package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Feed is what ipkbuild reads from the OpenWrt feed Makefile
// (openwrt/lispd/Makefile), so the SDK package and `make ipk` share one
// description: variables, the Package/NAME/... defines and the install rules.
type Feed struct {
	Vars    map[string]string // NAME:=value (values as written, unexpanded)
	Defines map[string]string // define NAME ... endef bodies, $$ unescaped to $
	Order   []string          // variable names in file order
}

var (
	assignRE = regexp.MustCompile(`^([A-Za-z0-9_./-]+)\s*(:=|\?=|\+=|=)\s*(.*)$`)
	refRE    = regexp.MustCompile(`\$\(([A-Za-z0-9_]+)\)`)
)

// ReadFeed parses the feed Makefile at path. It understands what a feed
// Makefile uses: simple assignments and define blocks; includes and $(eval)
// are ignored.
func ReadFeed(path string) (*Feed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd := &Feed{Vars: map[string]string{}, Defines: map[string]string{}}
	sc := bufio.NewScanner(f)
	var inDefine string
	var body []string
	depth := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if inDefine != "" {
			t := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(t, "define "):
				depth++
			case t == "endef":
				if depth == 0 {
					fd.Defines[inDefine] = strings.ReplaceAll(strings.Join(body, "\n"), "$$", "$")
					inDefine = ""
					continue
				}
				depth--
			}
			body = append(body, line)
			continue
		}
		if strings.HasPrefix(line, "define ") {
			inDefine = strings.TrimSpace(strings.TrimPrefix(line, "define "))
			body = nil
			continue
		}
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "\t") {
			continue
		}
		if m := assignRE.FindStringSubmatch(line); m != nil {
			if _, seen := fd.Vars[m[1]]; !seen {
				fd.Order = append(fd.Order, m[1])
			}
			if m[2] == "+=" {
				fd.Vars[m[1]] = strings.TrimSpace(fd.Vars[m[1]] + " " + m[3])
			} else {
				fd.Vars[m[1]] = m[3]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if inDefine != "" {
		return nil, fmt.Errorf("%s: define %s has no endef", path, inDefine)
	}
	return fd, nil
}

// Expand replaces $(VAR) references to the Makefile's own variables (and
// to extra) in s, repeatedly; unknown references are left as they are.
func (fd *Feed) Expand(s string, extra map[string]string) string {
	for i := 0; i < 10; i++ {
		n := refRE.ReplaceAllStringFunc(s, func(ref string) string {
			name := ref[2 : len(ref)-1]
			if v, ok := extra[name]; ok {
				return v
			}
			if v, ok := fd.Vars[name]; ok {
				return v
			}
			return ref
		})
		if n == s {
			break
		}
		s = n
	}
	return s
}

// PackageVar returns a variable set inside `define Package/NAME` (such as
// SECTION or DEPENDS).
func (fd *Feed) PackageVar(pkg, name string) string {
	for _, line := range strings.Split(fd.Defines["Package/"+pkg], "\n") {
		if m := assignRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil && m[1] == name {
			return m[3]
		}
	}
	return ""
}

// Install is one install rule of Package/NAME/install.
type Install struct {
	Kind string // DIR, BIN, CONF, DATA
	Src  string // source as written (./files/x or $(GO_PKG_BUILD_BIN_DIR)/x); empty for DIR
	Dest string // absolute path in the package
}

var installRE = regexp.MustCompile(`^\$\(INSTALL_(DIR|BIN|CONF|DATA)\)\s+(.*)$`)

// Installs parses the install rules of Package/pkg/install.
func (fd *Feed) Installs(pkg string) ([]Install, error) {
	body, ok := fd.Defines["Package/"+pkg+"/install"]
	if !ok {
		return nil, fmt.Errorf("no define Package/%s/install", pkg)
	}
	var out []Install
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		m := installRE.FindStringSubmatch(t)
		if m == nil {
			return nil, fmt.Errorf("install rule not understood: %q", t)
		}
		args := strings.Fields(m[2])
		for i, a := range args {
			if !strings.HasPrefix(a, "$(1)/") && !(i == 0 && m[1] != "DIR") {
				return nil, fmt.Errorf("install destination must start with $(1)/: %q", t)
			}
		}
		if m[1] == "DIR" {
			for _, a := range args {
				out = append(out, Install{Kind: "DIR", Dest: strings.TrimPrefix(a, "$(1)")})
			}
			continue
		}
		if len(args) != 2 {
			return nil, fmt.Errorf("install rule wants SRC DEST: %q", t)
		}
		out = append(out, Install{Kind: m[1], Src: args[0], Dest: strings.TrimPrefix(args[1], "$(1)")})
	}
	return out, nil
}

// Mode is the file mode OpenWrt's rules.mk gives each INSTALL_ kind.
func (in Install) Mode() int64 {
	switch in.Kind {
	case "BIN", "DIR":
		return 0o755
	case "CONF":
		return 0o600
	}
	return 0o644
}
