package ctl

import (
	"net/netip"
	"testing"
)

func TestNegativePrefix(t *testing.T) {
	pp := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	var none netip.Prefix
	tests := []struct {
		name   string
		eid    string
		within netip.Prefix
		avoid  []netip.Prefix
		want   string
	}{
		{"v4 nothing anywhere", "10.1.2.3", none, nil, "0.0.0.0/0"},
		{"v4 outside one site", "10.1.2.3", none, pp("192.0.2.0/24"), "0.0.0.0/1"},
		{"v4 next to a site", "10.1.2.3", none, pp("10.1.3.0/24"), "10.1.2.0/24"},
		{"v4 next to a site, low side", "10.1.3.3", none, pp("10.1.2.0/24"), "10.1.3.0/24"},
		{"v4 between two sites", "10.1.2.200", none, pp("10.1.2.0/25", "10.0.0.0/16"), "10.1.2.128/25"},
		{"v4 in site, nothing registered", "198.51.100.77", netip.MustParsePrefix("198.51.100.0/24"), nil, "198.51.100.0/24"},
		{"v4 in site, other half registered", "198.51.100.200", netip.MustParsePrefix("198.51.100.0/24"), pp("198.51.100.0/25"), "198.51.100.128/25"},
		{"v4 in site, neighbour /26 registered", "198.51.100.10", netip.MustParsePrefix("198.51.100.0/24"), pp("198.51.100.64/26", "198.51.100.128/25"), "198.51.100.0/26"},
		{"v4 in site, registered host next door", "198.51.100.4", netip.MustParsePrefix("198.51.100.0/24"), pp("198.51.100.5/32"), "198.51.100.4/32"},
		{"v4 other family ignored", "10.1.2.3", none, pp("2001:db8::/32"), "0.0.0.0/0"},
		{"v4-mapped eid", "::ffff:10.1.2.3", none, pp("10.1.3.0/24"), "10.1.2.0/24"},
		{"v6 nothing", "2001:db8::1", none, nil, "::/0"},
		{"v6 outside site", "2001:db8:2::1", none, pp("2001:db8:1::/48"), "2001:db8:2::/47"},
		{"v6 in site, half registered", "2001:db8:1:8000::1", netip.MustParsePrefix("2001:db8:1::/48"), pp("2001:db8:1::/49"), "2001:db8:1:8000::/49"},
		{"v6 deep", "2001:db8:1::4", netip.MustParsePrefix("2001:db8:1::/48"), pp("2001:db8:1::3/128"), "2001:db8:1::4/126"},
		{"v6 next to registered host", "2001:db8:1::2", netip.MustParsePrefix("2001:db8:1::/48"), pp("2001:db8:1::3/128", "2001:db8:1::/127"), "2001:db8:1::2/128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := negativePrefix(netip.MustParseAddr(tt.eid), tt.within, tt.avoid)
			if got.String() != tt.want {
				t.Fatalf("negativePrefix(%s) = %v, want %s", tt.eid, got, tt.want)
			}
			// Properties that must hold whatever the table says.
			if !got.Contains(netip.MustParseAddr(tt.eid).Unmap()) {
				t.Errorf("%v does not contain the EID", got)
			}
			for _, a := range tt.avoid {
				if got.Overlaps(a) {
					t.Errorf("%v overlaps %v", got, a)
				}
			}
			if tt.within.IsValid() && !containsPrefix(tt.within, got) {
				t.Errorf("%v is not inside %v", got, tt.within)
			}
			// Maximal: the next larger prefix must break a constraint.
			if got.Bits() > 0 && (!tt.within.IsValid() || got.Bits() > tt.within.Bits()) {
				larger := netip.PrefixFrom(got.Addr(), got.Bits()-1).Masked()
				overlaps := false
				for _, a := range tt.avoid {
					overlaps = overlaps || larger.Overlaps(a)
				}
				if !overlaps {
					t.Errorf("%v is not maximal: %v is free too", got, larger)
				}
			}
		})
	}
}
