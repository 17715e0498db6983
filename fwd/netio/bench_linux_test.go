package netio

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/lispd/lispd/fwd/rtnl"
)

// The batch benchmarks move 64 datagrams of 1400 bytes over loopback per
// iteration: one WriteBatch and ReadBatch until all 64 arrived. The Std
// benchmarks do the same with one net.UDPConn system call per datagram, as
// the reference the batch path must beat.
const benchBatch, benchSize = 64, 1400

func BenchmarkUDPBatch(b *testing.B) {
	for _, lb := range loopbacks {
		b.Run(lb.name, func(b *testing.B) {
			tx, rx := udpPair(b, lb.addr, ListenConfig{RecvTOSTTL: true})
			out := newMsgs(benchBatch, benchSize)
			for i := range out {
				out[i].Addr = rx.LocalAddr()
				out[i].TOS, out[i].TTL = 0xb8, 64
			}
			in := newMsgs(benchBatch, 2048)
			b.SetBytes(benchBatch * benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tx.WriteBatch(out); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < benchBatch; {
					n, err := rx.ReadBatch(in[got:])
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func BenchmarkUDPStd(b *testing.B) {
	for _, lb := range loopbacks {
		b.Run(lb.name, func(b *testing.B) {
			network := "udp4"
			if lb.addr.Is6() {
				network = "udp6"
			}
			listen := func() *net.UDPConn {
				c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(lb.addr, 0)))
				if err != nil {
					b.Skip(err)
				}
				b.Cleanup(func() { c.Close() })
				return c
			}
			tx, rx := listen(), listen()
			dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			out, in := make([]byte, benchSize), make([]byte, 2048)
			b.SetBytes(benchBatch * benchSize)
			b.ReportAllocs()
			for b.Loop() {
				for range benchBatch {
					if _, err := tx.WriteToUDPAddrPort(out, dst); err != nil {
						b.Fatal(err)
					}
				}
				for range benchBatch {
					if _, _, err := rx.ReadFromUDPAddrPort(in); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkTUNRead sends 64 datagrams of 1400 bytes into a TUN (in a fresh
// namespace) per iteration and reads them back either in batches of up to 64
// packets per Read or one packet per Read, the way a reader without batching
// would. Needs root. A plain TUN has no multi-packet read system call, so
// both do one read(2) per packet; batching saves poller round trips and lets
// the caller send the whole batch with one sendmmsg, but cuts no system
// calls here (that is what the offload TUN of issue 9 is for).
func BenchmarkTUNRead(b *testing.B) {
	for _, batch := range []int{64, 1} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tun := openTestTUN(b, 1500)
			if err := rtnl.AddAddress(tun.Name(), tunAddr4); err != nil {
				b.Fatal(err)
			}
			remove, err := rtnl.AddRoutes(tun.Name(), []netip.Prefix{eidSpace4})
			if err != nil {
				b.Fatal(err)
			}
			defer remove()
			s, err := ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			out := newMsgs(benchBatch, benchSize)
			for i := range out {
				out[i].Addr = netip.MustParseAddrPort("198.51.100.10:9999")
			}
			bufs := make([][]byte, batch)
			for i := range bufs {
				bufs[i] = make([]byte, 16+2000)
			}
			sizes := make([]int, batch)
			b.SetBytes(benchBatch * benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.WriteBatch(out); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < benchBatch; {
					n, err := tun.Read(bufs, sizes, 16)
					if err != nil {
						b.Fatal(err)
					}
					for i := range n {
						if sizes[i] == 20+8+benchSize { // ours, not IPv6 noise
							got++
						}
					}
				}
			}
		})
	}
}
