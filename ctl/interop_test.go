package ctl

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/msg"
)

// A Map-Request sent for a miss carries the source of the packet that
// missed as its Source-EID, in the instance of the EID asked for (RFC 9301
// section 5.3); a renewal, with no such packet, sends AFI 0.
func TestITRSourceEID(t *testing.T) {
	for _, iid := range []uint32{0, 1000} {
		tn := newTestNet(t)
		mr := tn.peer(tn.addr(20), tn.port)
		x := itrWithResolvers(tn, newFakeDataPlane(), func(x *XTROptions) { x.InstanceID = iid }, tn.addr(20))
		x.Miss(iid, netip.MustParseAddr("198.51.100.5"), netip.MustParseAddr("10.2.2.9"))
		_, req, ok := mr.recvRequest(5 * time.Second)
		if !ok {
			t.Fatal("no Map-Request")
		}
		want := msg.EIDOf(iid, netip.MustParsePrefix("198.51.100.5/32"))
		if req.SourceEID.IID != want.IID || req.SourceEID.Prefix != want.Prefix {
			t.Errorf("iid %d: Source-EID %v, want %v", iid, req.SourceEID, want)
		}

		// A renewal has no packet behind it: AFI 0.
		x.itr.resolve(eidKey{iid, netip.MustParseAddr("10.3.0.0")}, netip.Addr{}, netip.MustParsePrefix("10.3.0.0/16"), reqRenew)
		_, req, ok = mr.recvRequest(5 * time.Second)
		if !ok {
			t.Fatal("no renewal Map-Request")
		}
		if req.SourceEID.Prefix.IsValid() || len(req.SourceEID.Raw) != 0 {
			t.Errorf("iid %d: renewal Source-EID %v, want AFI 0", iid, req.SourceEID)
		}
	}
}
