package main

import (
	"os"
	"strings"
	"testing"
)

// `lispd check` warns (on stderr, like the missing-interface warning, and
// still exits 0 with the summary) of authentication keys shorter than 16
// bytes and of the sample configuration's placeholder key.
func TestCheckWeakKeys(t *testing.T) {
	ms := func(key string) string {
		return "[xtr]\neid_prefixes = [\"198.51.100.0/25\"]\n[[xtr.rloc]]\naddress = \"192.0.2.1\"\n" +
			"[[xtr.map_server]]\naddress = \"192.0.2.10\"\nkey = \"" + key + "\"\n"
	}
	site := func(key string) string {
		return "[map_server]\nenabled = true\nlisten = [\"192.0.2.10\"]\n[[map_server.site]]\nname = \"a\"\nkey = \"" + key + "\"\neid_prefixes = [\"198.51.100.0/24\"]\n"
	}
	tests := []struct {
		name string
		src  string
		want []string // warnings, each after "FILE: warning: "
	}{
		{"16 bytes", ms("0123456789abcdef"), nil},
		{"long", site("a much longer shared secret"), nil},
		{"15 bytes", ms("0123456789abcde"), []string{"xtr.map_server[0].key: shorter than 16 bytes: use at least 16 random bytes"}},
		{"placeholder", ms("change-me"), []string{"xtr.map_server[0].key: the sample configuration's placeholder key"}},
		{"site key", site("secret"), []string{"map_server.site[0].key: shorter than 16 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "k.toml", []byte(tt.src))
			out, errOut, code := capture(t, runCheck, p)
			if code != exitOK || !strings.Contains(out, p+": OK") {
				t.Fatalf("exit %d, stdout %q, stderr %q: a weak key must not fail the check", code, out, errOut)
			}
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			if errOut == "" {
				lines = nil
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("stderr %q, want %d warnings", errOut, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], p+": warning: "+w) {
					t.Errorf("warning %q, want it to start %q", lines[i], p+": warning: "+w)
				}
			}
		})
	}
}

// The placeholder is the one the OpenWrt sample configuration ships, which
// checks OK with the warning.
func TestCheckSamplePlaceholderKey(t *testing.T) {
	const sample = "openwrt/lispd/files/lispd.toml"
	b, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `key = "`+placeholderKey+`"`) {
		t.Fatalf("%s no longer has the placeholder key %q: update placeholderKey", sample, placeholderKey)
	}
	_, errOut, code := capture(t, runCheck, sample)
	if code != exitOK || !strings.Contains(errOut, ": warning: ") || !strings.Contains(errOut, "placeholder key") {
		t.Errorf("lispd check %s: exit %d, stderr %q; want 0 and the placeholder warning", sample, code, errOut)
	}
}
