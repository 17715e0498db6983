package rtnl

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lispd/lispd/internal/netnstest"
)

// linkMsg builds an RTM_NEWLINK payload (ifinfomsg + IFLA_IFNAME).
func linkMsg(index int, flags uint32, name string) []byte {
	r := &nlRequest{b: append([]byte(nil), ifInfomsg(index, flags, 0)...)}
	r.attr(unix.IFLA_IFNAME, append([]byte(name), 0))
	r.attrU32(unix.IFLA_MTU, 1500)
	return r.b
}

// addrMsg builds an RTM_NEWADDR payload for p on link index.
func addrMsg(index int, p netip.Prefix, flags uint32, local bool) []byte {
	m := unix.IfAddrmsg{Family: familyOf(p.Addr()), Prefixlen: uint8(p.Bits()), Index: uint32(index)}
	r := &nlRequest{b: append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfAddrmsg)...)}
	r.align()
	r.attr(unix.IFA_ADDRESS, p.Addr().AsSlice())
	if local {
		r.attr(unix.IFA_LOCAL, p.Addr().AsSlice())
	}
	r.attrU32(unix.IFA_FLAGS, flags)
	return r.b
}

// nlMsg wraps a payload in a netlink header.
func nlMsg(typ uint16, payload []byte) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(payload)+4)
	binary.NativeEndian.PutUint32(b, uint32(unix.SizeofNlMsghdr+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseLinkMessage(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		want    Link
		up      bool
		wantErr bool
	}{
		{"up and running", linkMsg(3, unix.IFF_UP|unix.IFF_RUNNING, "wan"), Link{Index: 3, Name: "wan", Flags: unix.IFF_UP | unix.IFF_RUNNING}, true, false},
		{"admin down", linkMsg(4, 0, "wan2"), Link{Index: 4, Name: "wan2", Flags: 0}, false, false},
		{"no carrier", linkMsg(5, unix.IFF_UP, "pppoe-wan"), Link{Index: 5, Name: "pppoe-wan", Flags: unix.IFF_UP}, false, false},
		{"short", make([]byte, 10), Link{}, false, true},
		{"attribute past the end", append(ifInfomsg(1, 0, 0), 0xff, 0, 3, 0), Link{}, false, true},
		{"attribute header cut", append(ifInfomsg(1, 0, 0), 8, 0), Link{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLinkMessage(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) || got.Up() != tt.up {
				t.Errorf("got %+v (up %v), want %+v (up %v)", got, got.Up(), tt.want, tt.up)
			}
		})
	}
}

func TestParseAddrMessage(t *testing.T) {
	v4 := netip.MustParsePrefix("192.0.2.11/24")
	v6 := netip.MustParsePrefix("2001:db8::1/64")
	tests := []struct {
		name    string
		b       []byte
		want    IfAddr
		usable  bool
		wantErr bool
	}{
		{"ipv4", addrMsg(3, v4, 0, true), IfAddr{Index: 3, Prefix: v4, Flags: 0}, true, false},
		{"ipv6 address only", addrMsg(4, v6, 0, false), IfAddr{Index: 4, Prefix: v6, Flags: 0}, true, false},
		{"tentative", addrMsg(4, v6, unix.IFA_F_TENTATIVE, false), IfAddr{Index: 4, Prefix: v6, Flags: unix.IFA_F_TENTATIVE}, false, false},
		{"optimistic", addrMsg(4, v6, unix.IFA_F_TENTATIVE|unix.IFA_F_OPTIMISTIC, false), IfAddr{Index: 4, Prefix: v6, Flags: unix.IFA_F_TENTATIVE | unix.IFA_F_OPTIMISTIC}, true, false},
		{"dad failed", addrMsg(4, v6, unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED, false), IfAddr{Index: 4, Prefix: v6, Flags: unix.IFA_F_TENTATIVE | unix.IFA_F_DADFAILED}, false, false},
		{"short", make([]byte, 5), IfAddr{}, false, true},
		{"no address", make([]byte, unix.SizeofIfAddrmsg), IfAddr{}, false, true},
		{"family mismatch", func() []byte {
			b := addrMsg(3, v4, 0, false)
			b[0] = unix.AF_INET6
			return b
		}(), IfAddr{}, false, true},
		{"prefix too long", func() []byte {
			b := addrMsg(3, v4, 0, false)
			b[1] = 33
			return b
		}(), IfAddr{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddrMessage(tt.b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) || (err == nil && got.Usable() != tt.usable) {
				t.Errorf("got %+v, want %+v (usable %v)", got, tt.want, tt.usable)
			}
		})
	}
}

func TestParseNLMessages(t *testing.T) {
	b := append(nlMsg(unix.RTM_NEWLINK, linkMsg(2, unix.IFF_UP, "eth0")), nlMsg(unix.RTM_DELADDR, addrMsg(2, netip.MustParsePrefix("198.51.100.7/24"), 0, true))...)
	b = append(b, nlMsg(unix.NLMSG_DONE, make([]byte, 4))...)
	b = append(b, nlMsg(unix.RTM_NEWLINK, linkMsg(9, 0, "after-done"))...)
	var types []uint16
	done, err := parseNLMessages(b, func(typ uint16, _ []byte) { types = append(types, typ) })
	if err != nil || !done || len(types) != 2 || types[0] != unix.RTM_NEWLINK || types[1] != unix.RTM_DELADDR {
		t.Fatalf("done %v err %v types %v", done, err, types)
	}
	errMsg := make([]byte, 20)
	e := -int32(unix.EPERM)
	binary.NativeEndian.PutUint32(errMsg, uint32(e))
	if _, err := parseNLMessages(nlMsg(unix.NLMSG_ERROR, errMsg), func(uint16, []byte) {}); !errors.Is(err, unix.EPERM) {
		t.Errorf("NLMSG_ERROR EPERM: err = %v", err)
	}
	bad := nlMsg(unix.RTM_NEWLINK, nil)
	binary.NativeEndian.PutUint32(bad, 1000)
	if _, err := parseNLMessages(bad, func(uint16, []byte) {}); err == nil {
		t.Error("length past the datagram accepted")
	}
}

// FuzzParseNetlink feeds arbitrary datagrams through the notification
// decoders: they must never panic, and a decoded address is valid.
func FuzzParseNetlink(f *testing.F) {
	f.Add(nlMsg(unix.RTM_NEWLINK, linkMsg(3, unix.IFF_UP|unix.IFF_RUNNING, "wan")))
	f.Add(nlMsg(unix.RTM_NEWADDR, addrMsg(3, netip.MustParsePrefix("192.0.2.1/24"), 0, true)))
	f.Add(nlMsg(unix.RTM_DELADDR, addrMsg(3, netip.MustParsePrefix("2001:db8::1/64"), unix.IFA_F_TENTATIVE, false)))
	f.Add(nlMsg(unix.NLMSG_DONE, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNLMessages(b, func(typ uint16, data []byte) {
			switch typ {
			case unix.RTM_NEWLINK, unix.RTM_DELLINK:
				ParseLinkMessage(data)
			case unix.RTM_NEWADDR, unix.RTM_DELADDR:
				if a, err := ParseAddrMessage(data); err == nil && !a.Prefix.IsValid() {
					t.Fatalf("invalid prefix without an error: %+v", a)
				}
			}
		})
		ParseLinkMessage(b)
		ParseAddrMessage(b)
	})
}

// TestNetnsWatchLinks sees, in a fresh namespace, a link going down and up and
// an address coming and going, and DumpLinks agrees.
func TestNetnsWatchLinks(t *testing.T) {
	netnstest.Enter(t)
	openTUN(t, "wtest0")
	w, err := WatchLinks()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	evc := make(chan LinkEvent, 64)
	go func() {
		defer close(evc)
		for {
			evs, err := w.Wait()
			if err != nil {
				return
			}
			for _, e := range evs {
				evc <- e
			}
		}
	}()
	expect := func(what string, ok func(LinkEvent) bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-evc:
				t.Logf("event %+v", e)
				if ok(e) {
					return
				}
			case <-deadline:
				t.Fatalf("no notification: %s", what)
			}
		}
	}
	if err := LinkSetDown("wtest0"); err != nil {
		t.Fatal(err)
	}
	expect("link down", func(e LinkEvent) bool {
		return e.Type == unix.RTM_NEWLINK && e.Link.Name == "wtest0" && !e.Link.Up()
	})
	if err := LinkSetUp("wtest0"); err != nil {
		t.Fatal(err)
	}
	expect("link up", func(e LinkEvent) bool {
		return e.Type == unix.RTM_NEWLINK && e.Link.Name == "wtest0" && e.Link.Up()
	})
	p := netip.MustParsePrefix("198.51.100.9/24")
	if err := AddAddress("wtest0", p); err != nil {
		t.Fatal(err)
	}
	expect("address added", func(e LinkEvent) bool { return e.Type == unix.RTM_NEWADDR && e.Addr.Prefix == p })
	s, err := DumpLinks()
	if err != nil {
		t.Fatal(err)
	}
	l, ok := s.LinkByName("wtest0")
	if !ok || !l.Up() {
		t.Fatalf("dump: wtest0 %+v found %v, want up", l, ok)
	}
	if as := s.AddrsOf(l.Index); len(as) != 1 || as[0].Prefix != p {
		t.Errorf("dump: addresses of wtest0 %+v, want %v", as, p)
	}
	if err := LinkSetDown("wtest0"); err != nil {
		t.Fatal(err)
	}
	expect("link down", func(e LinkEvent) bool {
		return e.Type == unix.RTM_NEWLINK && e.Link.Name == "wtest0" && !e.Link.Up()
	})
	w.Close()
	for range evc { // Wait returns after Close
	}
}

// An address dump lists every family's addresses: one of another family
// (an MCTP endpoint ID, one byte) is skipped, and the dump goes on; a
// malformed IPv4 or IPv6 address still fails it.
func TestLinkStateSkipsOtherFamilies(t *testing.T) {
	mctp := func() []byte {
		m := unix.IfAddrmsg{Family: unix.AF_MCTP, Index: 7}
		r := &nlRequest{b: append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfAddrmsg)...)}
		r.align()
		r.attr(unix.IFA_LOCAL, []byte{8})
		return r.b
	}()
	v4 := netip.MustParsePrefix("192.0.2.1/24")
	var s LinkState
	for _, m := range []struct {
		typ  uint16
		data []byte
	}{
		{unix.RTM_NEWLINK, linkMsg(2, unix.IFF_UP|unix.IFF_RUNNING, "wan")},
		{unix.RTM_NEWADDR, mctp},
		{unix.RTM_NEWADDR, addrMsg(2, v4, 0, true)},
	} {
		if err := s.add(m.typ, m.data); err != nil {
			t.Fatalf("message %d: %v", m.typ, err)
		}
	}
	if len(s.Links) != 1 || len(s.Addrs) != 1 || s.Addrs[0].Prefix != v4 {
		t.Errorf("state %+v, want the link and its IPv4 address", s)
	}
	bad := addrMsg(2, v4, 0, false)
	bad[0] = unix.AF_INET6
	if err := s.add(unix.RTM_NEWADDR, bad); err == nil {
		t.Error("an IPv6 message with an IPv4 address accepted")
	}
}

// Wait reads at most watchReadMax datagrams: a storm of notifications does
// not keep it reading (and its events growing) for as long as it lasts; the
// rest is left for the next Wait.
func TestLinkWatcherWaitBounded(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("socketpair: %v", err)
	}
	defer unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "notifications")
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := &LinkWatcher{f: f, raw: raw, buf: make([]byte, 32<<10)}
	defer w.Close()
	const queued = 3*watchReadMax + 5
	msg := nlMsg(unix.RTM_NEWLINK, linkMsg(2, unix.IFF_UP, "wan"))
	for i := range queued {
		if _, err := unix.Write(fds[1], msg); err != nil {
			t.Fatalf("queueing notification %d: %v", i, err)
		}
	}
	total := 0
	for total < queued {
		evs, err := w.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || len(evs) > watchReadMax {
			t.Fatalf("Wait returned %d events, want 1..%d", len(evs), watchReadMax)
		}
		total += len(evs)
	}
	if total != queued {
		t.Errorf("read %d notifications, want %d", total, queued)
	}
}

// Only Close ends the watcher for good: after it Wait returns an error
// that Is os.ErrClosed, which a malformed notification does not.
func TestLinkWatcherClosedError(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("socketpair: %v", err)
	}
	defer unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "notifications")
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	w := &LinkWatcher{f: f, raw: raw, buf: make([]byte, 32<<10)}
	if _, err := unix.Write(fds[1], nlMsg(unix.RTM_NEWLINK, make([]byte, 4))); err != nil { // ifinfomsg cut short
		t.Fatal(err)
	}
	if _, err := w.Wait(); err == nil || errors.Is(err, os.ErrClosed) {
		t.Fatalf("malformed notification: err %v, want an error that is not os.ErrClosed", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Wait()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block
	w.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Wait after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end Wait")
	}
	if _, err := w.Wait(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait on a closed watcher: %v, want os.ErrClosed", err)
	}
}

// openTUN creates the TUN device name, up and without an address, for the
// rest of the test: a link to watch without fwd/netio.
func openTUN(t *testing.T, name string) {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		t.Fatalf("TUNSETIFF %s: %v", name, err)
	}
	if err := QuietLink(name); err != nil { // no IPv6 link-local address
		t.Fatal(err)
	}
	if err := LinkSetUp(name); err != nil {
		t.Fatal(err)
	}
}
