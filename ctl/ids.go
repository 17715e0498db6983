package ctl

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/lispd/lispd/internal/sha"
	"github.com/lispd/lispd/internal/sortx"
)

// DeriveXTRID derives this xTR's 128-bit xTR-ID: the first 16 bytes of
// SHA-256 over "lispd xtr-id", the instance-id and the first RLOC. It names
// the router, not what it registers: it is stable across restarts and across
// changes of the EID prefixes (so a reload that drops a prefix withdraws it
// from the same registrant), and differs between xTRs (their first RLOCs
// differ).
func DeriveXTRID(iid uint32, rlocs []LocalLocator) [16]byte {
	h := sha.NewSHA256()
	h.Write([]byte("lispd xtr-id"))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], iid)
	h.Write(b[:])
	if len(rlocs) > 0 {
		b, _ := rlocs[0].Addr.MarshalBinary()
		h.Write(b)
	}
	var id [16]byte
	copy(id[:], h.Sum(nil))
	return id
}

// DeriveSiteID derives the 64-bit site-ID from the instance-id and the sorted
// EID prefixes, so that every xTR of one site (same prefixes) sends the same
// site-ID. Never zero.
func DeriveSiteID(iid uint32, eids []netip.Prefix) uint64 {
	h := sha.NewSHA256()
	h.Write([]byte("lispd site-id"))
	writeEIDs(h, iid, eids)
	id := binary.BigEndian.Uint64(h.Sum(nil))
	if id == 0 {
		id = 1
	}
	return id
}

type byteWriter interface{ Write([]byte) (int, error) }

func writeEIDs(h byteWriter, iid uint32, eids []netip.Prefix) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], iid)
	h.Write(b[:])
	sorted := slices.Clone(eids)
	sortx.Sort(len(sorted), func(i, j int) bool { return comparePrefix(sorted[i], sorted[j]) < 0 }, func(i, j int) { sorted[i], sorted[j] = sorted[j], sorted[i] })
	for _, p := range sorted {
		t, _ := p.MarshalBinary()
		h.Write(t)
	}
}

// comparePrefix orders prefixes by address then length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
