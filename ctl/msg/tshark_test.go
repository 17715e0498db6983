package msg

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lispd/lispd/testing/tshark"
)

// wirePacket is one message of the tshark capture with its outer UDP ends.
type wirePacket struct {
	name     string
	src, dst netip.AddrPort
	payload  []byte
}

func signed(t testing.TB, m Message) []byte {
	t.Helper()
	b := m.Append(nil)
	if err := Sign(b, key); err != nil {
		t.Fatalf("Sign %T: %v", m, err)
	}
	return b
}

// encoderPackets builds one packet of every message type with our encoder.
func encoderPackets(t testing.TB) []wirePacket {
	itr, ms, etr := ap("192.0.2.1:57345"), ap("203.0.113.10:4342"), ap("198.51.100.1:4342")
	itr6, ms6 := ap("[2001:db8::1]:57347"), ap("[2001:db8::10]:4342")
	req := &MapRequest{
		Nonce:     0x0102030405060708,
		SourceEID: srcEID("10.2.0.1"),
		ITRRLOCs:  addrs("192.0.2.1", "2001:db8::1"),
		EIDs:      []EID{eid(0, "10.1.0.0/24")},
	}
	probe := &MapRequest{Probe: true, Nonce: 0x010203040506070a, ITRRLOCs: addrs("192.0.2.1"), EIDs: []EID{eid(0, "198.51.100.1/32")}}
	reqIID := &MapRequest{Nonce: 0x0102030405060709, SourceEID: EID{IID: 1000, Prefix: pfx("10.2.0.1/32")}, ITRRLOCs: addrs("192.0.2.1"), EIDs: []EID{eid(1000, "10.1.0.0/24")}}
	req6 := &MapRequest{Nonce: 0x0102030405060711, SourceEID: srcEID("2001:db8:2::1"), ITRRLOCs: addrs("2001:db8::1"), EIDs: []EID{eid(0, "2001:db8:1::/48")}}
	smr := &MapRequest{SMR: true, Nonce: 0x0102030405060712, SourceEID: srcEID("10.1.0.1"), ITRRLOCs: addrs("198.51.100.1"), EIDs: []EID{eid(0, "10.2.0.1/32")},
		MapReply: &Record{TTL: 1440, Authoritative: true, EID: eid(0, "10.1.0.0/24"), Locators: []Locator{loc("198.51.100.1", 1, 100, true)}}}
	ecm4 := &ECM{Src: itr, Dst: ap("10.1.0.5:4342"), IPID: 0x1234, DontFragment: true, Message: req.Append(nil)}
	ecm6 := &ECM{Src: itr6, Dst: ap("[2001:db8:1::5]:4342"), Message: req6.Append(nil)}
	reply := &MapReply{Nonce: 0x0102030405060708, Records: []Record{{TTL: 1440, Authoritative: true, EID: eid(0, "10.1.0.0/24"),
		Locators: []Locator{loc("198.51.100.1", 1, 75, false), loc("198.51.100.2", 2, 25, false)}}}}
	neg := &MapReply{Nonce: 0x0102030405060713, Records: []Record{{TTL: 15, Action: ActNativelyFwd, Authoritative: true, EID: eid(0, "10.99.0.0/16")}}}
	replyIID := &MapReply{Probe: true, Nonce: 0x0102030405060709, Records: []Record{{TTL: 1440, Authoritative: true, MapVersion: 7, EID: eid(1000, "10.1.0.0/24"),
		Locators: []Locator{{Priority: 1, Weight: 100, MPriority: 255, Probed: true, Reachable: true, Addr: AddrOf(ip("198.51.100.1"))}}}}}
	replyList := &MapReply{Nonce: 0x0102030405060714, Records: []Record{{TTL: 60, Authoritative: true, EID: eid(0, "2001:db8:1::/48"),
		Locators: []Locator{{Priority: 1, Weight: 100, MPriority: 255, Reachable: true, Addr: Address{List: []netip.Addr{ip("198.51.100.1"), ip("2001:db8::2")}}}}}}}
	x := [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	reg1 := &MapRegister{WantMapNotify: true, Nonce: 0x1122334455667790, Alg: AlgHMACSHA1, Records: registered(eid(0, "10.1.0.0/24")), HasXTRID: true, XTRID: x, SiteID: 7}
	reg256 := &MapRegister{ProxyReply: true, WantMapNotify: true, Nonce: 0x1122334455667791, KeyID: 1, Alg: AlgHMACSHA256,
		Records: registered(eid(1000, "10.1.0.0/24")), HasXTRID: true, XTRID: x, SiteID: 7}
	notify := &MapNotify{Nonce: 0x1122334455667791, Alg: AlgHMACSHA256, Records: registered(eid(0, "10.1.0.0/24")), HasXTRID: true, XTRID: x, SiteID: 7}
	notifyRTR := &MapNotify{ForRTR: true, Nonce: 0x1122334455667792, Alg: AlgHMACSHA256, Records: registered(eid(0, "10.1.0.0/24")), HasXTRID: true, XTRID: x, SiteID: 7,
		MSRTRKeyID: 1, MSRTRAuth: []byte{0xab, 0xcd, 0xef, 0x01}}
	ack := &MapNotify{Ack: true, Nonce: 0x1122334455667791, Alg: AlgHMACSHA256, Records: registered(eid(0, "10.1.0.0/24"))}
	infoReq := &Info{Nonce: 0x0a0b0c0d0e0f1011, Alg: AlgHMACSHA1, EID: eid(0, "10.1.0.0/24")}
	infoRep := &Info{Reply: true, Nonce: 0x0a0b0c0d0e0f1011, Alg: AlgHMACSHA1, TTL: 1440, EID: eid(0, "10.1.0.0/24"), NAT: NATTraversal{
		MSPort: 4342, ETRPort: 61444, GlobalETR: ip("203.0.113.77"), MS: ip("203.0.113.10"), PrivateETR: ip("192.0.2.1"),
		RTRs: []netip.Addr{ip("203.0.113.20"), ip("2001:db8::20")}}}
	return []wirePacket{
		{"map_request", itr, ms, req.Append(nil)},
		{"map_request_probe", ap("192.0.2.1:4342"), etr, probe.Append(nil)},
		{"map_request_iid", itr, ms, reqIID.Append(nil)},
		{"map_request_ipv6", itr6, ms6, req6.Append(nil)},
		{"map_request_smr_mapreply", etr, ap("192.0.2.1:4342"), smr.Append(nil)},
		{"ecm_ipv4", ap("192.0.2.1:57348"), ms, ecm4.Append(nil)},
		{"ecm_ipv6", ap("[2001:db8::1]:57349"), ms6, ecm6.Append(nil)},
		{"map_reply", etr, itr, reply.Append(nil)},
		{"map_reply_negative", ms, itr, neg.Append(nil)},
		{"map_reply_iid_probe", etr, ap("192.0.2.1:4342"), replyIID.Append(nil)},
		{"map_reply_afi_list", etr, itr, replyList.Append(nil)},
		{"map_register_sha1_xtrid", ap("198.51.100.1:61441"), ms, signed(t, reg1)},
		{"map_register_sha256_xtrid", ap("198.51.100.1:61442"), ms, signed(t, reg256)},
		{"map_notify", ms, etr, signed(t, notify)},
		{"map_notify_ack", etr, ms, signed(t, ack)},
		{"info_request", ap("192.0.2.1:61444"), ms, signed(t, infoReq)},
		{"info_reply", ms, ap("192.0.2.1:61444"), signed(t, infoRep)},
		{"map_notify_rtr", ms, ap("203.0.113.20:4342"), signed(t, notifyRTR)},
	}
}

// TestTsharkAcceptsEncoder writes one packet of every message type built by
// our encoder and has Wireshark judge them like check_pcap.sh: no malformed
// packet, no expert warning, no trailing bytes; then checks decoded values.
func TestTsharkAcceptsEncoder(t *testing.T) {
	tshark.Require(t)
	pkts := encoderPackets(t)
	var frames [][]byte
	for _, p := range pkts {
		// Our own decoder takes back everything we send.
		typ, _ := PeekType(p.payload)
		m, err := New(typ)
		if err == nil {
			err = m.Decode(p.payload)
		}
		if err != nil {
			t.Fatalf("%s: own decode: %v", p.name, err)
		}
		f, err := tshark.UDPFrame(p.src, p.dst, p.payload)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		frames = append(frames, f)
	}
	path := filepath.Join(t.TempDir(), "encoder.pcap")
	if err := tshark.WriteFile(path, tshark.LinkTypeEthernet, frames); err != nil {
		t.Fatal(err)
	}
	tshark.Check(t, path)

	// Every frame is dissected as LISP with the right message type (ECMs
	// show the encapsulated type too).
	rows := tshark.Fields(t, path, "", []string{"frame.number", "lisp.type", "_ws.col.Info"})
	if len(rows) != len(pkts) {
		t.Fatalf("tshark printed %d rows for %d frames", len(rows), len(pkts))
	}
	for i, r := range rows {
		typ, _ := PeekType(pkts[i].payload)
		if first := strings.Split(r[1], ";")[0]; first != fmt.Sprint(uint8(typ)) {
			t.Errorf("frame %d (%s): tshark lisp.type %q, want %d (info %q)", i+1, pkts[i].name, r[1], typ, r[2])
		}
	}

	// A few decoded values, frame by frame.
	checks := []struct {
		frame int
		field string
		want  string
	}{
		{1, "lisp.nonce", "0x0102030405060708"},
		{1, "lisp.irc", "1"},
		{1, "lisp.mreq.record.prefix.ipv4", "10.1.0.0"},
		{1, "lisp.mreq.itr_rloc_ipv6", "2001:db8::1"},
		{2, "lisp.mreq.flags.probe", "1"},
		{3, "lisp.lcaf.iid", "1000;1000"},
		{4, "lisp.mreq.record.prefix.ipv6", "2001:db8:1::"},
		{6, "lisp.mreq.record.prefix.ipv4", "10.1.0.0"},
		{6, "udp.checksum.status", "1;1"}, // outer and inner UDP checksums good
		{6, "ip.checksum.status", "1;1"},
		{7, "udp.checksum.status", "1;1"},
		{8, "lisp.mapping.ttl", "1440"},
		{8, "lisp.loc.weight", "75;25"},
		{9, "lisp.mapping.act", "1"},
		{10, "lisp.lcaf.iid", "1000"},
		{10, "lisp.loc.flags.probe", "1"},
		{11, "lisp.lcaf.afi_list.ipv6", "2001:db8::2"},
		{12, "lisp.xtrid", "000102030405060708090a0b0c0d0e0f"},
		{12, "lisp.keyid", "0x0001"},
		{12, "lisp.auth", hex.EncodeToString(pkts[11].payload[16:36])},
		{13, "lisp.mreg.flags.pmr", "1"},
		{13, "lisp.keyid", "0x0102"},
		{14, "lisp.mnot.flags.xtrid", "1"},
		{17, "lisp.info.r", "1"},
		{17, "lisp.lcaf.natt.etrport", "61444"},
		{17, "lisp.lcaf.natt.rloc.ipv4", "203.0.113.77;203.0.113.10;192.0.2.1;203.0.113.20"},
		{18, "lisp.mnot.flags.rtr", "1"},
		{18, "lisp.siteid", "0000000000000007"},
		{18, "lisp.msrtr.keyid", "0x0001"},
		{18, "lisp.msrtr.auth", "abcdef01"},
	}
	var fields []string
	for _, c := range checks {
		fields = append(fields, c.field)
	}
	rows = tshark.Fields(t, path, "", fields)
	for i, c := range checks {
		if got := rows[c.frame-1][i]; got != c.want {
			t.Errorf("frame %d (%s): %s = %q, want %q", c.frame, pkts[c.frame-1].name, c.field, got, c.want)
		}
	}
}
