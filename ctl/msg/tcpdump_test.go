package msg

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

// tcpdumpFrame is what tcpdump printed for one frame (its .out file).
type tcpdumpFrame struct {
	kind    string   // "Map-Register", "Map-Notify", ...
	flagged bool     // "(invalid)", "[|lisp]" or undissected "Data:"
	records []string // "EID 10.30.1.100/32, 1 locator(s) LOC 20.20.8.253"
	xtrID   string   // hex, "" when not printed
	siteID  string
}

var (
	outFrameRE  = regexp.MustCompile(`^\s+\d+\s+\d{4}-\d\d-\d\d .*LISP(-([A-Za-z-]+))?`)
	outRecordRE = regexp.MustCompile(`EID (\S+), (\d+) locator\(s\)((?: LOC \S+)*)`)
	outXTRRE    = regexp.MustCompile(`xTR-ID: 0x0000:\s+([0-9a-f ]+)`)
	outSiteRE   = regexp.MustCompile(`SITE-ID: (\d+)`)
)

func parseTcpdumpOut(t *testing.T, path string) []tcpdumpFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var frames []tcpdumpFrame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := outFrameRE.FindStringSubmatch(line); m != nil {
			frames = append(frames, tcpdumpFrame{kind: m[2]})
		}
		if len(frames) == 0 {
			continue
		}
		fr := &frames[len(frames)-1]
		if strings.Contains(line, "(invalid)") || strings.Contains(line, "[|lisp]") || strings.Contains(line, "Data:") ||
			strings.Contains(line, "unsupported address family") {
			fr.flagged = true
		}
		for _, m := range outRecordRE.FindAllStringSubmatch(line, -1) {
			fr.records = append(fr.records, m[0])
		}
		if m := outXTRRE.FindStringSubmatch(line); m != nil {
			fr.xtrID = strings.ReplaceAll(strings.TrimSpace(m[1]), " ", "")
		}
		if m := outSiteRE.FindStringSubmatch(line); m != nil {
			fr.siteID = m[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return frames
}

// tcpdumpStyle prints our decoded records the way tcpdump does.
func tcpdumpStyle(rs []Record) []string {
	var out []string
	for _, r := range rs {
		s := fmt.Sprintf("EID %v, %d locator(s)", r.EID.Prefix, len(r.Locators))
		for _, l := range r.Locators {
			s += " LOC " + l.Addr.String()
		}
		out = append(out, s)
	}
	return out
}

// TestTcpdumpCaptures decodes every LISP message of the tcpdump project's
// captures: what tcpdump decodes cleanly we decode to the same records and
// xTR-IDs; what it flags we reject.
func TestTcpdumpCaptures(t *testing.T) {
	pcaps, err := filepath.Glob("testdata/tcpdump/*.pcap")
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	clean, flagged := 0, 0
	for _, p := range pcaps {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want := parseTcpdumpOut(t, strings.TrimSuffix(p, ".pcap")+".out")
			link, pkts, err := tshark.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != len(want) {
				t.Fatalf("%d packets, .out describes %d", len(pkts), len(want))
			}
			for i, pkt := range pkts {
				w := want[i]
				d, err := tshark.ParseUDP(link, pkt.Data)
				if err != nil {
					t.Fatalf("frame %d: %v", i+1, err)
				}
				typ, _ := PeekType(d.Payload)
				m, err := New(typ)
				if err == nil {
					err = m.Decode(d.Payload)
				}
				if w.flagged {
					flagged++
					if err == nil {
						t.Errorf("frame %d: tcpdump flags it, we decoded %+v", i+1, m)
					} else if e := (*Error)(nil); errors.As(err, &e) {
						t.Logf("frame %d rejected as tcpdump flags it: %v", i+1, err)
					}
					continue
				}
				clean++
				if err != nil {
					t.Errorf("frame %d: tcpdump decodes it cleanly, we fail: %v", i+1, err)
					continue
				}
				if got := typ.String(); got != w.kind {
					t.Errorf("frame %d: type %s, tcpdump says %s", i+1, got, w.kind)
				}
				var recs []Record
				var hasX bool
				var x [16]byte
				var site uint64
				switch m := m.(type) {
				case *MapRegister:
					recs, hasX, x, site = m.Records, m.HasXTRID, m.XTRID, m.SiteID
				case *MapNotify:
					recs, hasX, x, site = m.Records, m.HasXTRID, m.XTRID, m.SiteID
				default:
					t.Fatalf("frame %d: unexpected %T", i+1, m)
				}
				if got := tcpdumpStyle(recs); strings.Join(got, "\n") != strings.Join(w.records, "\n") {
					t.Errorf("frame %d records:\n%s\ntcpdump:\n%s", i+1, strings.Join(got, "\n"), strings.Join(w.records, "\n"))
				}
				if hasX != (w.xtrID != "") || (hasX && (hex.EncodeToString(x[:]) != w.xtrID || fmt.Sprint(site) != w.siteID)) {
					t.Errorf("frame %d: xTR-ID %v %x site %d, tcpdump %q %q", i+1, hasX, x, site, w.xtrID, w.siteID)
				}
				// Our encoder reproduces these real-world messages exactly.
				if enc := m.Append(nil); string(enc) != string(d.Payload) {
					t.Errorf("frame %d: re-encoded\n %x\nwant\n %x", i+1, enc, d.Payload)
				}
			}
		})
	}
	if clean < 6 || flagged < 5 {
		t.Errorf("checked %d clean and %d flagged frames, want at least 6 and 5", clean, flagged)
	}
}
