//go:build linux

// Command kpathxtr holds an xTR made of fwd/kpath's in-kernel programs
// alone, for the bench's kpath path: it opens the TUN device (with
// IFF_VNET_HDR and TSO, so the encapsulating program sees GSO packets),
// loads the encapsulating program on the TUN's egress and the
// decapsulating one on the RLOC interface's ingress, installs a static
// mapping of the remote EID prefixes to the remote RLOC, routes those
// prefixes into the TUN, prints "ready" and sleeps until SIGTERM or SIGINT.
// Nobody reads the TUN: packets the programs leave to it (misses, what they
// do not handle) are dropped there. Run it inside the xTR's namespace.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lispd/lispd/fwd/kpath"
	"github.com/lispd/lispd/fwd/netio"
)

func main() {
	tun := flag.String("tun", "lisp0", "TUN device name")
	mtu := flag.Int("mtu", 1500-kpath.Overhead4, "TUN MTU")
	wan := flag.String("wan", "", "RLOC interface")
	local := flag.String("local", "", "local IPv4 RLOC")
	remote := flag.String("remote", "", "remote IPv4 RLOC")
	eids := flag.String("eids", "", "remote IPv4 EID prefixes, comma-separated")
	iid := flag.Uint("iid", 0, "instance-id (0: none)")
	plain := flag.Bool("plain-tun", false, "open the TUN without offloads")
	xdp := flag.Bool("decap-xdp", false, "decapsulate at the RLOC interface's XDP hook (inner packets GRO-merged, entering on that interface) instead of its TCX ingress")
	gro := flag.Bool("decap-gro", false, "decapsulate at the RLOC interface's XDP hook and TCX ingress, as lispd does: inner packets GRO-merged, then moved into the TUN")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("kpathxtr: ")
	if err := run(*tun, *mtu, *wan, *local, *remote, *eids, uint32(*iid), *plain, *xdp, *gro); err != nil {
		log.Fatal(err)
	}
}

func run(tunName string, mtu int, wan, local, remote, eids string, iid uint32, plain, xdp, gro bool) error {
	l, err := netip.ParseAddr(local)
	if err != nil {
		return fmt.Errorf("-local: %w", err)
	}
	r, err := netip.ParseAddr(remote)
	if err != nil {
		return fmt.Errorf("-remote: %w", err)
	}
	var ps []netip.Prefix
	for _, s := range strings.Split(eids, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-eids: %w", err)
		}
		ps = append(ps, p)
	}
	cfg := netio.TUNConfig{Name: tunName, MTU: mtu}
	var t netio.TUN
	if plain {
		t, err = netio.OpenTUNConfig(cfg)
	} else {
		t, err = netio.OpenOffloadTUN(cfg)
	}
	if err != nil {
		return err
	}
	defer t.Close()
	s, err := kpath.AttachStatic(kpath.StaticConfig{TUN: t.Name(), WAN: wan, Local: l, Remote: r, EIDs: ps, InstanceID: iid, DecapXDP: xdp, DecapGRO: gro})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, p := range ps {
		if out, err := exec.Command("ip", "route", "replace", p.String(), "dev", t.Name()).CombinedOutput(); err != nil {
			return fmt.Errorf("ip route replace %v dev %s: %v: %s", p, t.Name(), err, out)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	<-sig
	for i, st := range []func() (kpath.Stats, error){s.Encap.Stats, s.Decap.Stats} {
		if v, err := st(); err == nil {
			fmt.Printf("stats %d: %v\n", i, v)
		}
	}
	for _, p := range ps {
		if c, err := s.Encap.Counters(p); err == nil {
			fmt.Printf("encap %v: %d packets, %d bytes\n", p, c.Packets, c.Bytes)
		}
	}
	if c, err := s.Decap.Counters(l); err == nil {
		fmt.Printf("decap %v: %d packets, %d bytes\n", l, c.Packets, c.Bytes)
	}
	return nil
}
