package e2e

import (
	"fmt"
	"github.com/lispd/lispd/ctl/admin"
	"regexp"
	"strconv"
	"testing"

	"github.com/lispd/lispd/testing/lab"
)

var mtuRE = regexp.MustCompile(`(?:Frag needed and DF set \(mtu = |message too long, mtu=)(\d+)`)

// reportedMTU pings with DF set and the given payload size up to tries
// times and returns the next-hop MTU an ICMP frag-needed (or the local
// path-MTU cache it filled) reported, or 0.
func reportedMTU(t *testing.T, s *setup, size, tries int) (int, string) {
	t.Helper()
	var out string
	for i := 0; i < tries; i++ {
		out, _, _ = ping(t, s.A, lab.HostB4, "-c", "1", "-W", "1", "-M", "do", "-s", strconv.Itoa(size))
		if m := mtuRE.FindStringSubmatch(out); m != nil {
			mtu, _ := strconv.Atoi(m[1])
			return mtu, out
		}
	}
	return 0, out
}

// TestPathMTU: the core's link toward xTR2 has MTU 1400, so the largest
// inner IPv4 packet that fits the path is 1400 − 36 = 1364. A DF packet
// that fits the TUN but not the path must get ICMP frag-needed from lispd
// with next-hop MTU 1364; the same size without DF must still arrive; a
// packet above the TUN MTU gets the kernel's frag-needed with the TUN MTU.
func TestPathMTU(t *testing.T) {
	s := start(t, lab.Options{Core: lab.CoreRouter, CoreMTU: 1400}, false)
	pingWorks(t, s.A, lab.HostB4)
	tunMTU, err := s.XTR1.LinkMTU(s.C1.TUNName())
	if err != nil {
		t.Fatal(err)
	}
	const pathInner = 1400 - 36
	const size = 1400 // ICMP payload: a 1428-byte IPv4 packet
	if size+28 <= pathInner || size+28 > tunMTU {
		t.Fatalf("premise: a %d-byte packet must fit the TUN (MTU %d) but not the path (%d)", size+28, tunMTU, pathInner)
	}

	t.Run("KernelAboveTUNMTU", func(t *testing.T) {
		mtu, out := reportedMTU(t, s, tunMTU-28+1, 3)
		if mtu != tunMTU {
			t.Errorf("DF packet of %d bytes (TUN MTU %d): reported mtu %d:\n%s", tunMTU+1, tunMTU, mtu, out)
		}
		// The kernel answered that one before the packet reached lispd.
		if n := counter(t, s.X1, admin.GroupDataDrops, "too-big"); n != 0 {
			t.Errorf("xTR1 too-big = %d after the kernel's own frag-needed, want 0", n)
		}
	})
	if err := s.A.FlushRouteCache(); err != nil {
		t.Fatal(err)
	}
	t.Run("LispdFragNeeded", func(t *testing.T) {
		mtu, out := reportedMTU(t, s, size, 5)
		if mtu != pathInner {
			t.Errorf("DF packet of %d bytes over a %d-byte path: reported mtu %d, want %d:\n%s",
				size+28, 1400, mtu, pathInner, out)
		}
		if n := counter(t, s.X1, admin.GroupDataDrops, "too-big"); n == 0 {
			t.Errorf("xTR1 too-big counter did not rise with its frag-needed")
		}
	})
	t.Run("WithoutDFArrives", func(t *testing.T) {
		out, sent, recv := ping(t, s.A, lab.HostB4, "-c", "5", "-i", "0.2", "-W", "2", "-M", "dont", "-s", fmt.Sprint(size))
		if recv == 0 {
			t.Errorf("no reply to %d non-DF %d-byte pings:\n%s", sent, size+28, out)
		}
	})
}
