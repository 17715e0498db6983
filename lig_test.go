package main

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// seenRequest is what the fake Map-Resolver checked of one request.
type seenRequest struct {
	outerSrc netip.AddrPort
	ecm      msg.ECM
	req      msg.MapRequest
	err      error
}

// fakeResolver listens on 127.0.0.1 and, for each ECM Map-Request, calls
// answer; the records it returns (when non-nil) go back in a Map-Reply from
// a separate socket on 127.0.0.2 (as an ETR would answer), to the ITR-RLOC
// and the inner source port. A reply with a wrong nonce is sent first: lig
// must ignore it.
func fakeResolver(t *testing.T, answer func(req *msg.MapRequest) []msg.Record) (netip.AddrPort, <-chan seenRequest) {
	t.Helper()
	mr, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	etr, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		mr.Close()
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	t.Cleanup(func() { mr.Close(); etr.Close() })
	seen := make(chan seenRequest, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := mr.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			s := seenRequest{outerSrc: from}
			if s.err = s.ecm.Decode(buf[:n]); s.err == nil {
				s.err = s.req.Decode(s.ecm.Message)
			}
			s.ecm.Message = nil
			if s.err == nil && len(s.req.ITRRLOCs) == 1 {
				if recs := answer(&s.req); recs != nil {
					to := netip.AddrPortFrom(s.req.ITRRLOCs[0].IP, s.ecm.Src.Port())
					wrong := msg.MapReply{Nonce: s.req.Nonce + 1, Records: recs}
					etr.WriteToUDPAddrPort(wrong.Append(nil), to)
					rep := msg.MapReply{Nonce: s.req.Nonce, Records: recs}
					etr.WriteToUDPAddrPort(rep.Append(nil), to)
				}
			}
			seen <- s
		}
	}()
	return mr.LocalAddr().(*net.UDPAddr).AddrPort(), seen
}

func TestLigPositive(t *testing.T) {
	systemPaths(t)
	resolver, seen := fakeResolver(t, func(req *msg.MapRequest) []msg.Record {
		return []msg.Record{{
			TTL: 1440, Authoritative: true, EID: msg.EIDOf(0, netip.MustParsePrefix("198.51.100.0/25")),
			Locators: []msg.Locator{
				{Priority: 1, Weight: 60, MPriority: 255, Reachable: true, Addr: msg.AddrOf(netip.MustParseAddr("192.0.2.2"))},
				{Priority: 2, Weight: 40, MPriority: 255, Addr: msg.AddrOf(netip.MustParseAddr("2001:db8::3"))},
			},
		}}
	})
	// Flags after the EID as well as before.
	out, errOut, code := capture(t, runLig, "-t", "3", "198.51.100.10", "-m", resolver.String())
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	s := <-seen
	if s.err != nil {
		t.Fatalf("resolver could not decode the request: %v", s.err)
	}
	local := netip.MustParseAddr("127.0.0.1")
	if s.ecm.Src != netip.AddrPortFrom(local, s.outerSrc.Port()) || s.outerSrc.Addr() != local {
		t.Errorf("inner source %v, outer source %v: want the same ephemeral port on 127.0.0.1", s.ecm.Src, s.outerSrc)
	}
	if s.ecm.Dst != netip.MustParseAddrPort("198.51.100.10:4342") {
		t.Errorf("inner destination %v", s.ecm.Dst)
	}
	if len(s.req.ITRRLOCs) != 1 || s.req.ITRRLOCs[0].IP != local {
		t.Errorf("ITR-RLOCs %v, want [127.0.0.1]", s.req.ITRRLOCs)
	}
	if len(s.req.EIDs) != 1 || s.req.EIDs[0].IID != 0 || s.req.EIDs[0].Prefix != netip.MustParsePrefix("198.51.100.10/32") {
		t.Errorf("EID records %v", s.req.EIDs)
	}
	if s.req.Nonce == 0 {
		t.Error("nonce 0")
	}

	lines := strings.Split(out, "\n")
	if want := fmt.Sprintf("Send map-request to %v for 198.51.100.10 ...", resolver); lines[0] != want {
		t.Errorf("line 1 %q, want %q", lines[0], want)
	}
	if !regexp.MustCompile(`^Received map-reply from 127\.0\.0\.2 with rtt \d+\.\d{5} secs$`).MatchString(lines[1]) {
		t.Errorf("line 2 %q", lines[1])
	}
	for _, want := range []string{"Mapping entry for EID 198.51.100.10:", "198.51.100.0/25, record ttl: 1440, auth, map-version: 0"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	for first, want := range map[string][]string{
		"Locator":     {"Locator", "State", "Priority/Weight"},
		"192.0.2.2":   {"192.0.2.2", "up", "1/60"},
		"2001:db8::3": {"2001:db8::3", "down", "2/40"},
	} {
		if got := row(t, out, first); !reflect.DeepEqual(got, want) {
			t.Errorf("row %q, want %q", got, want)
		}
	}
	if strings.Count(out, "Received map-reply") != 1 {
		t.Errorf("the wrong-nonce reply was not ignored:\n%s", out)
	}
}

func TestLigNegativeWithIIDAndCount(t *testing.T) {
	systemPaths(t)
	resolver, seen := fakeResolver(t, func(req *msg.MapRequest) []msg.Record {
		return []msg.Record{{TTL: 15, Authoritative: true, Action: msg.ActNativelyFwd, EID: msg.EIDOf(req.EIDs[0].IID, netip.MustParsePrefix("203.0.113.0/24"))}}
	})
	out, errOut, code := capture(t, runLig, "--iid", "5", "-n", "2", "-m", resolver.String(), "203.0.113.7")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var nonces []uint64
	for range 2 {
		s := <-seen
		if s.err != nil || s.req.EIDs[0].IID != 5 {
			t.Errorf("request %v, err %v: want instance-id 5", s.req.EIDs, s.err)
		}
		nonces = append(nonces, s.req.Nonce)
	}
	if nonces[0] == nonces[1] {
		t.Errorf("the same nonce twice: %x", nonces[0])
	}
	for _, want := range []string{
		fmt.Sprintf("Send map-request to %v for [5]203.0.113.7 ...", resolver),
		"[5]203.0.113.0/24, record ttl: 15, auth, map-version: 0",
		"  Negative cache entry, action: Natively-Forward",
		"2 map-requests sent, 2 map-replies received",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Received map-reply from 127.0.0.2"); n != 2 {
		t.Errorf("%d replies printed, want 2:\n%s", n, out)
	}
}

func TestLigTimeout(t *testing.T) {
	systemPaths(t)
	resolver, seen := fakeResolver(t, func(*msg.MapRequest) []msg.Record { return nil })
	start := time.Now()
	out, _, code := capture(t, runLig, "198.51.100.10", "-m", resolver.String(), "-t", "200ms")
	if code != exitFail {
		t.Errorf("exit %d, want 1", code)
	}
	want := fmt.Sprintf("*** No map-reply for 198.51.100.10 from %v within 200ms (timed out) ***\n", resolver)
	if !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 10*time.Second {
		t.Errorf("took %v with -t 200ms", d)
	}
	if s := <-seen; s.err != nil {
		t.Errorf("the request did not decode: %v", s.err)
	}
}

func TestLigUsage(t *testing.T) {
	_, def := systemPaths(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "which EID?"},
		{[]string{"198.51.100.1", "198.51.100.2"}, "unexpected argument"},
		{[]string{"-n", "0", "-m", "127.0.0.1", "198.51.100.1"}, "need at least 1"},
		{[]string{"-t", "soon", "198.51.100.1"}, "neither seconds nor a duration"},
		{[]string{"198.51.100.1"}, "no map-resolver: give -m MAP-RESOLVER (none in xtr.map_resolvers of " + def + ")"},
		{[]string{"-m", "127.0.0.1:99999", "198.51.100.1"}, "bad port"},
		{[]string{"-m", "127.0.0.1", "-s", "nowhere", "198.51.100.1"}, "-s \"nowhere\" is not an IP address"},
		{[]string{"-m", "127.0.0.1", "--iid", "16777215", "198.51.100.1"}, "out of range"},
	}
	for _, tt := range tests {
		_, errOut, code := capture(t, runLig, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("lig %q: exit %d, %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestLigConfig(t *testing.T) {
	dir := t.TempDir()
	valid := writeAt(t, filepath.Join(dir, "ok.toml"), []byte("[xtr]\ninstance_id = 9\neid_space = [\"198.51.100.0/24\"]\nmap_resolvers = [\"192.0.2.10\", \"2001:db8::10\"]\n"))
	invalid := writeAt(t, filepath.Join(dir, "bad.toml"), []byte("log_level = \"loud\"\n[xtr]\ninstance_id = 4\nmap_resolvers = [\"192.0.2.11\"]\n"))
	for _, tt := range []struct {
		path string
		want []netip.Addr
		iid  uint32
	}{
		{valid, []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}, 9},
		{invalid, []netip.Addr{netip.MustParseAddr("192.0.2.11")}, 4},
		{filepath.Join(dir, "missing.toml"), nil, 0},
	} {
		got, iid := ligConfig(tt.path)
		if !reflect.DeepEqual(got, tt.want) || iid != tt.iid {
			t.Errorf("ligConfig(%s) = %v, %d; want %v, %d", tt.path, got, iid, tt.want, tt.iid)
		}
	}
}
