package ctl

import "net/netip"

// negativePrefix returns the largest (shortest) prefix that contains eid,
// lies inside within (when within is valid) and overlaps none of avoid. It is
// the EID-prefix of a negative Map-Reply: the widest stretch of address space
// around eid of which the Map-Server can say "nothing is registered here".
// Prefixes of the other address family in avoid are ignored. The host prefix
// of eid is the answer when everything larger overlaps something.
func negativePrefix(eid netip.Addr, within netip.Prefix, avoid []netip.Prefix) netip.Prefix {
	eid = eid.Unmap()
	bits := eid.BitLen()
	start := 0
	if within.IsValid() && within.Contains(eid) {
		start = within.Bits()
	}
	for l := start; l < bits; l++ {
		c := netip.PrefixFrom(eid, l).Masked()
		free := true
		for _, a := range avoid {
			if c.Overlaps(a) {
				free = false
				break
			}
		}
		if free {
			return c
		}
	}
	return netip.PrefixFrom(eid, bits)
}

// hostPrefix returns the single-address prefix of a.
func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

// containsPrefix reports whether outer contains all of inner.
func containsPrefix(outer, inner netip.Prefix) bool {
	return outer.Addr().BitLen() == inner.Addr().BitLen() &&
		outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}
