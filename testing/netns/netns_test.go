package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// chain builds A — R — B with IPv4 and IPv6 and routes.
func chain(t *testing.T, topo *Topology) (a, r, b *Host) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	a, err = topo.Host("a")
	must(err)
	r, err = topo.Host("r")
	must(err)
	b, err = topo.Host("b")
	must(err)
	_, err = topo.Link(a, r, LinkOptions{
		AddrA: []netip.Prefix{pfx("192.0.2.1/30"), pfx("2001:db8:a::1/64")},
		AddrB: []netip.Prefix{pfx("192.0.2.2/30"), pfx("2001:db8:a::2/64")},
	})
	must(err)
	_, err = topo.Link(r, b, LinkOptions{
		NameA: "to-b-long-name1", NameB: "up",
		AddrA: []netip.Prefix{pfx("192.0.2.5/30"), pfx("2001:db8:b::1/64")},
		AddrB: []netip.Prefix{pfx("192.0.2.6/30"), pfx("2001:db8:b::2/64")},
		MTU:   1400, TxChecksumOff: true,
	})
	must(err)
	must(r.EnableForwarding())
	must(a.DefaultRoute(netip.MustParseAddr("192.0.2.2")))
	must(a.DefaultRoute(netip.MustParseAddr("2001:db8:a::2")))
	must(b.DefaultRoute(netip.MustParseAddr("192.0.2.5")))
	must(b.DefaultRoute(netip.MustParseAddr("2001:db8:b::1")))
	return a, r, b
}

func TestChainPing(t *testing.T) {
	topo := New(t)
	a, r, b := chain(t, topo)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dst := range []string{"192.0.2.6", "2001:db8:b::2"} {
		if out, err := a.Output(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", dst); err != nil {
			t.Errorf("ping %s: %v\n%s", dst, err, out)
		}
	}
	// The MTU option took effect on both ends.
	for _, c := range []struct {
		h    *Host
		name string
	}{{r, "to-b-long-name1"}, {b, "up"}} {
		if mtu, err := c.h.LinkMTU(c.name); err != nil || mtu != 1400 {
			t.Errorf("%s %s: mtu %d, %v; want 1400", c.h, c.name, mtu, err)
		}
	}
	// Without forwarding on the router, the far side is unreachable: the
	// ping above really crossed r.
	if err := r.Sysctl("net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	if err := a.Run(ctx, "ping", "-c", "1", "-W", "1", "192.0.2.6"); err == nil {
		t.Errorf("ping crossed r with forwarding off")
	}
}

func TestInterfaceNameTooLong(t *testing.T) {
	topo := New(t)
	a, _ := topo.Host("a")
	b, _ := topo.Host("b")
	if _, err := topo.Link(a, b, LinkOptions{NameA: "this-is-16-bytes"}); err == nil {
		t.Fatal("16-byte interface name accepted")
	}
}

func TestDoAndCapture(t *testing.T) {
	topo := New(t)
	a, _, b := chain(t, topo)
	ln, err := listenIn(b, "192.0.2.6:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pcap := filepath.Join(t.TempDir(), "b.pcap")
	capt, err := b.Capture("up", pcap, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		done <- string(buf[:n])
	}()
	var conn net.Conn
	if err := a.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("hello from a"))
	conn.Close()
	if got := <-done; got != "hello from a" {
		t.Fatalf("received %q", got)
	}
	// The test's own namespace was not changed by Do.
	if _, err := net.InterfaceByName("up"); err == nil {
		t.Errorf("b's interface visible in the test's own namespace after Do")
	}
	start := time.Now()
	summary, err := capt.Stop()
	t.Logf("capture stopped in %v", time.Since(start))
	if err != nil {
		t.Fatalf("capture: %v: %s", err, summary)
	}
	st, err := os.Stat(pcap)
	if err != nil || st.Size() <= 24 {
		t.Fatalf("pcap %v size %v: want packets (tcpdump: %s)", err, st, summary)
	}
	if !strings.Contains(summary, "packets captured") {
		t.Errorf("tcpdump summary missing: %q", summary)
	}
}

func listenIn(h *Host, addr string) (ln net.Listener, err error) {
	err = h.Do(func() error {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// TestCleanupOnFailure runs a test that builds a topology, starts a process
// and then fails with t.Fatal, in a child test process, and checks that its
// namespaces and process are gone afterwards.
func TestCleanupOnFailure(t *testing.T) {
	New(t) // skips (or fails under CI) without root
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailingBody$", "-test.v")
	cmd.Env = append(os.Environ(), "NETNS_FAILING_BODY=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("failing body passed:\n%s", out)
	}
	m := regexp.MustCompile(`prefix=(\S+) pid=(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("child did not report its topology:\n%s", out)
	}
	if !strings.Contains(string(out), "body fails on purpose") {
		t.Fatalf("child failed for another reason:\n%s", out)
	}
	if left := namespacesWithPrefix(m[1]); len(left) > 0 {
		t.Errorf("namespaces left after a failed test: %v", left)
	}
	if _, err := os.Stat("/proc/" + m[2]); err == nil {
		t.Errorf("process %s still running after a failed test", m[2])
	}
}

// TestFailingBody is the child of TestCleanupOnFailure.
func TestFailingBody(t *testing.T) {
	if os.Getenv("NETNS_FAILING_BODY") != "1" {
		t.Skip("only run by TestCleanupOnFailure")
	}
	topo := New(t)
	a, _, _ := chain(t, topo)
	p, err := a.Start("sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prefix=%s pid=%d", topo.Prefix(), p.Pid())
	t.Fatal("body fails on purpose")
}

// TestCommandsRunInNamespace checks Output, Start and CPU accounting.
func TestCommandsRunInNamespace(t *testing.T) {
	topo := New(t)
	h, err := topo.Host("h")
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Output(context.Background(), "ip", "-o", "link")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 || !strings.Contains(out, "lo:") {
		t.Errorf("fresh namespace should hold only lo, has:\n%s", out)
	}
	p, err := h.Start("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo finished; sleep 300")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.Output(), "finished") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cpu, err := p.CPUTime()
	if err != nil || cpu <= 0 {
		t.Errorf("cpu time %v, %v: want > 0 after a busy loop", cpu, err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !p.Exited() {
		t.Errorf("not exited after Stop")
	}
}

// TestConcurrentClose checks that a second Close (a signal handler racing
// the main flow) returns only after the namespaces are gone.
func TestConcurrentClose(t *testing.T) {
	New(t)
	topo, err := Open(t)
	if err != nil {
		t.Fatal(err)
	}
	h, err := topo.Host("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Start("sleep", "300"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			err := topo.Close()
			if left := namespacesWithPrefix(topo.Prefix()); len(left) > 0 {
				err = fmt.Errorf("Close returned with namespaces left: %v", left)
			}
			done <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestStaleSweep checks that Open removes a namespace left by a run whose
// process is gone, and leaves one of a live process alone.
func TestStaleSweep(t *testing.T) {
	New(t)
	// A PID that does not exist: pid_max is at most 4194304.
	stale := fmt.Sprintf("lt%dx%04x-s", 4194304+1, 0xbeef)
	live := fmt.Sprintf("lt%dx%04x-s", os.Getppid(), 0xbeef)
	for _, n := range []string{stale, live} {
		if err := exec.Command("ip", "netns", "add", n).Run(); err != nil {
			t.Fatal(err)
		}
	}
	defer exec.Command("ip", "netns", "del", live).Run()
	defer exec.Command("ip", "netns", "del", stale).Run()
	topo, err := Open(t)
	if err != nil {
		t.Fatal(err)
	}
	topo.Close()
	if len(namespacesWithPrefix(stale)) != 0 {
		t.Errorf("stale namespace %s not swept", stale)
	}
	if len(namespacesWithPrefix(live)) != 1 {
		t.Errorf("namespace %s of a live process swept", live)
	}
}
