package netio

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestGSOOffOnEIO makes the kernel refuse the first UDP GSO message of a
// conn (through gsoState.sendHook, over loopback): every refused batch is
// still delivered, one datagram per message; EIO (a device without
// checksum offload) turns GSO off for good, so no UDP_SEGMENT message is
// offered again and GSO() says so, while other errors (EINVAL: a run above
// the path MTU; EMSGSIZE) leave it on for the next batch.
func TestGSOOffOnEIO(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		off   bool
	}{
		{unix.EIO, true},
		{unix.EINVAL, false},
		{unix.EMSGSIZE, false},
		{unix.ENOBUFS, false},
	} {
		t.Run(unix.ErrnoName(tc.errno), func(t *testing.T) {
			if !tc.off && binary.NativeEndian.Uint16([]byte{0, 1}) == 1 {
				// The second batch goes out as a real GSO message, and
				// qemu-user passes its UDP_SEGMENT control message to the
				// host kernel without byte-swapping it (TestSendPool too).
				t.Skip("UDP GSO send on a big-endian target under qemu-user")
			}
			rc, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			sc, err := ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			if !sc.EnableGSO() {
				if os.Getenv("CI") == "true" {
					t.Fatal("no UDP GSO (Linux 4.18+)")
				}
				t.Skip("no UDP GSO (Linux 4.18+)")
			}
			// runs counts the GSO messages (several iovecs, a UDP_SEGMENT
			// control message) offered to the kernel; the first is refused.
			runs := 0
			sc.gso.Load().sendHook = func(fd uintptr, hs []mmsghdr, flags int) (int, unix.Errno) {
				for i := range hs {
					if hs[i].hdr.Iovlen > 1 {
						runs++
						if runs == 1 {
							if i == 0 {
								return 0, tc.errno
							}
							return sendmmsg(fd, hs[:i], flags) // the kernel stops at the refused one
						}
					}
				}
				return sendmmsg(fd, hs, flags)
			}

			const perBatch = 8
			var want []string
			send := func(batch int) {
				t.Helper()
				msgs := make([]Message, perBatch)
				for i := range msgs {
					b := make([]byte, 300)
					copy(b, fmt.Sprintf("batch %d dg %d", batch, i))
					msgs[i] = Message{Buf: b, Addr: rc.LocalAddr()}
					want = append(want, fmt.Sprintf("batch %d dg %d/300", batch, i))
				}
				if n, err := sc.WriteBatch(msgs); n != perBatch || err != nil {
					t.Fatalf("batch %d: WriteBatch sent %d of %d, %v", batch, n, perBatch, err)
				}
			}

			send(0)
			if runs != 1 {
				t.Fatalf("first batch: %d GSO messages offered, want 1 (refused)", runs)
			}
			if sc.GSO() == tc.off {
				t.Errorf("after %v: GSO() = %v, want %v", tc.errno, sc.GSO(), !tc.off)
			}
			if m, d := sc.GSOStats(); m != 0 || d != 0 {
				t.Errorf("after a refused run: GSO stats %d messages / %d datagrams, want 0 / 0", m, d)
			}

			send(1)
			wantRuns, wantMsgs, wantDgs := 2, uint64(1), uint64(perBatch)
			if tc.off {
				wantRuns, wantMsgs, wantDgs = 1, 0, 0
			}
			if runs != wantRuns {
				t.Errorf("after two batches: %d GSO messages offered, want %d", runs, wantRuns)
			}
			if m, d := sc.GSOStats(); m != wantMsgs || d != wantDgs {
				t.Errorf("GSO stats %d messages / %d datagrams, want %d / %d", m, d, wantMsgs, wantDgs)
			}
			if sc.GSO() == tc.off {
				t.Errorf("after the second batch: GSO() = %v, want %v", sc.GSO(), !tc.off)
			}

			// Both batches arrive whole, in order, one datagram each.
			rm := make([]Message, 2*perBatch)
			for i := range rm {
				rm[i].Buf = make([]byte, 2000)
			}
			rc.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
			var got []string
			for len(got) < len(want) {
				n, err := rc.ReadBatch(rm)
				if err != nil {
					t.Fatalf("after %d datagrams: %v", len(got), err)
				}
				for _, m := range rm[:n] {
					var b, i int
					fmt.Sscanf(string(m.Buf[:m.N]), "batch %d dg %d", &b, &i)
					got = append(got, fmt.Sprintf("batch %d dg %d/%d", b, i, m.N))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("received\n%v\nwant\n%v", got, want)
			}
		})
	}
}
