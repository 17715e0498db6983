package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl"
	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// NAT traversal end-to-end (issue 8): xTR1 behind a masquerading NAT
// namespace registers through the RTR; host A and host B reach each other
// through it both ways.

// natSetup is a running NAT lab.
type natSetup struct {
	*lab.NATLab
	Bin            string
	MS, RTR        *lab.Daemon // RTR is MS without SeparateRTR
	X1, X2, X3     *lab.Daemon // X3 only with natOptions.three
	C1, C2         lab.XTRConfig
	Core           *netns.Capture // nil unless captured
	x1Config, x2ID string
}

// natOptions shape a NAT run.
type natOptions struct {
	lab lab.NATOptions
	// keepalive is xtr.nat_keepalive of xTR1 ("5s" when empty).
	keepalive string
	// x1Extra is appended to xTR1's [xtr] table.
	x1Extra string
	// x1Timers replace fastXTR in xTR1's [xtr] table when set.
	x1Timers string
	// x1Key replaces site 1's key in xTR1's configuration when set.
	x1Key string
	// three adds xTR3 (site 3, host C) behind the same NAT.
	three bool
	// capture captures the core bridge from the start.
	capture bool
	// before runs once the namespaces exist, before any lispd starts.
	before func(*lab.NATLab)
}

func startNAT(t *testing.T, o natOptions) *natSetup {
	t.Helper()
	skipIfNotWired(t)
	topo := netns.New(t)
	bin := lispdBinary(t)
	nl, err := lab.BuildNAT(topo, o.lab)
	if err != nil {
		t.Fatal(err)
	}
	s := &natSetup{NATLab: nl, Bin: bin}
	if o.three {
		if err := nl.AddNATXTR(); err != nil {
			t.Fatal(err)
		}
	}
	if o.before != nil {
		o.before(nl)
	}
	if o.capture {
		s.Core = capture(t, nl.Core, lab.CoreBridgeName)
	}
	msPath, err := nl.WriteConfig("ms", nl.MapServerTOML(lab.MapServerConfig{RegistrationTimeout: "30s"}))
	if err != nil {
		t.Fatal(err)
	}
	s.MS = s.startService(t, nl.MS, "ms", msPath)
	s.RTR = s.MS
	if o.lab.SeparateRTR {
		path, err := nl.WriteConfig("rtr", nl.RTRTOML())
		if err != nil {
			t.Fatal(err)
		}
		s.RTR = s.startService(t, nl.RTRHost, "rtr", path)
	}
	if o.keepalive == "" {
		o.keepalive = "5s"
	}
	s.C2 = lab.XTRConfig{Side: 2, MapServer: true, Extra: fastXTR, NATTraversal: "auto"}
	timers := fastXTR
	if o.x1Timers != "" {
		timers = o.x1Timers
	}
	s.C1 = lab.XTRConfig{Side: 1, MapServer: true, MapServerKey: o.x1Key, NATTraversal: "auto",
		Extra: strings.TrimSpace(timers + fmt.Sprintf("\nnat_keepalive = %q\n", o.keepalive) + o.x1Extra)}
	for _, x := range []struct {
		h    *netns.Host
		name string
		c    lab.XTRConfig
		d    **lab.Daemon
	}{{nl.XTR2, "xtr2", s.C2, &s.X2}, {nl.XTR1, "xtr1", s.C1, &s.X1}} {
		path, err := nl.WriteConfig(x.name, nl.XTRTOML(x.c))
		if err != nil {
			t.Fatal(err)
		}
		if x.name == "xtr1" {
			s.x1Config = path
		}
		if *x.d, err = nl.StartLispd(x.h, x.name, bin, path); err != nil {
			t.Fatal(err)
		}
		if err := (*x.d).WaitTUN(x.c.TUNName(), upTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if o.three {
		path, err := nl.WriteConfig("xtr3", nl.XTR3TOML(fastXTR+fmt.Sprintf("\nnat_keepalive = %q", o.keepalive)))
		if err != nil {
			t.Fatal(err)
		}
		if s.X3, err = nl.StartLispd(nl.XTR3, "xtr3", bin, path); err != nil {
			t.Fatal(err)
		}
		if err := s.X3.WaitTUN("lisp0", upTimeout); err != nil {
			t.Fatal(err)
		}
	}
	id := ctl.DeriveXTRID(0, []ctl.LocalLocator{{Addr: lab.NATPrivateXTR1, Priority: 1, Weight: 100}})
	s.x2ID = hex.EncodeToString(id[:])
	return s
}

func (s *natSetup) startService(t *testing.T, h *netns.Host, name, path string) *lab.Daemon {
	t.Helper()
	d, err := s.StartLispd(h, name, s.Bin, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitListening(d, controlPort, upTimeout); err != nil {
		t.Fatal(err)
	}
	return d
}

// natState returns the NAT state `show rlocs` gives for d's only locator.
func natState(t *testing.T, d *lab.Daemon) (*admin.NATState, error) {
	t.Helper()
	var v admin.RLOCs
	if err := d.ShowJSON(t.Context(), &v, "rlocs"); err != nil {
		return nil, err
	}
	if len(v.RLOCs) != 1 {
		return nil, fmt.Errorf("%s: %d locators", d.Name, len(v.RLOCs))
	}
	if v.RLOCs[0].NAT == nil {
		return nil, fmt.Errorf("%s: no NAT state", d.Name)
	}
	return v.RLOCs[0].NAT, nil
}

// waitBehindNAT waits until xTR1 reports NAT with the NAT's public address
// and returns the public address:port of its data port.
func (s *natSetup) waitBehindNAT(t *testing.T) netip.AddrPort {
	t.Helper()
	var pub netip.AddrPort
	eventually(t, 15*time.Second, "xTR1 reports NAT", func() error {
		st, err := natState(t, s.X1)
		if err != nil {
			return err
		}
		if !st.BehindNAT || st.Public.Addr() != lab.NATPublic || !slices.Contains(st.RTRs, s.RTRv4) {
			return fmt.Errorf("xTR1 NAT state %+v", st)
		}
		pub = st.Public
		return nil
	})
	return pub
}

// natRegistrations returns the Map-Server's registrations of site 1.
func (s *natSetup) natRegistrations(t *testing.T) []admin.Registration {
	t.Helper()
	var r admin.Registrations
	if err := s.MS.ShowJSON(t.Context(), &r, "registrations"); err != nil {
		t.Fatal(err)
	}
	var out []admin.Registration
	for _, site := range r.MapServer {
		if site.Site == "site1" {
			out = append(out, site.Registrations...)
		}
	}
	return out
}

// waitRTRBinding waits until the RTR's `show rtr` lists xTR1's binding,
// verified, from the NAT's public address, and returns it.
func (s *natSetup) waitRTRBinding(t *testing.T) admin.RTRBinding {
	t.Helper()
	var got admin.RTRBinding
	eventually(t, 15*time.Second, "show rtr lists xTR1 verified", func() error {
		var v admin.RTR
		if err := s.RTR.ShowJSON(t.Context(), &v, "rtr"); err != nil {
			return err
		}
		if !v.Enabled {
			return fmt.Errorf("%s: RTR role not enabled", s.RTR.Name)
		}
		for _, b := range v.Bindings {
			if b.XTRID != s.x2ID {
				continue
			}
			if !b.Verified || b.Public.Addr() != lab.NATPublic || b.Private != lab.NATPrivateXTR1 || b.ExpiresIn <= 0 {
				return fmt.Errorf("xTR1's binding %+v", b)
			}
			got = b
			return nil
		}
		return fmt.Errorf("no binding of xTR-ID %s in %+v", s.x2ID, v.Bindings)
	})
	out, err := s.RTR.Show(t.Context(), "rtr")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, got.Public.String()) || !strings.Contains(out, got.XTRID) {
		t.Errorf("show rtr table lacks %v or %s:\n%s", got.Public, got.XTRID, out)
	}
	return got
}

// TestNATTraversal is the core path, with plain masquerade (which keeps the
// source port 4341) and `masquerade random` (another public port): NAT
// discovery, registration through the RTR, ping and TCP both ways, and a
// core capture where xTR1's public address never talks to xTR2 directly and
// that decodes clean in tshark.
func TestNATTraversal(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  lab.NATOptions
	}{
		{"masquerade", lab.NATOptions{}},
		{"masquerade random", lab.NATOptions{Random: true}},
		{"separate RTR", lab.NATOptions{Random: true, SeparateRTR: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tshark.Require(t)
			s := startNAT(t, natOptions{lab: tc.opt, capture: true})
			pub := s.waitBehindNAT(t)
			switch {
			case !tc.opt.Random && pub.Port() != dataPort:
				t.Errorf("plain masquerade: public port %d, want %d kept", pub.Port(), dataPort)
			case tc.opt.Random && pub.Port() == dataPort:
				t.Errorf("masquerade random kept port %d", dataPort)
			}
			eventually(t, 15*time.Second, "xTR2 reports no NAT", func() error {
				st, err := natState(t, s.X2)
				if err != nil {
					return err
				}
				if !st.Discovered || st.BehindNAT {
					return fmt.Errorf("xTR2 NAT state %+v", st)
				}
				return nil
			})
			for _, c := range []struct {
				d    *lab.Daemon
				want []string
			}{
				{s.X1, []string{"behind NAT", "public " + pub.String(), "RTRs offered " + s.RTRv4.String()}},
				{s.X2, []string{"no NAT"}},
			} {
				out, err := c.d.Show(t.Context(), "rlocs")
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s show rlocs lacks %q:\n%s", c.d.Name, w, out)
					}
				}
			}
			waitRegistered(t, s.X1, s.X2)
			regs := s.natRegistrations(t)
			if len(regs) == 0 {
				t.Fatal("no registration of site 1")
			}
			for _, r := range regs {
				if len(r.RLOCs) != 1 || r.RLOCs[0].Address != s.RTRv4 {
					t.Errorf("site 1 %v registered with locators %+v, want only the RTR %v", r.EID, r.RLOCs, s.RTRv4)
				}
				if r.XTRID != s.x2ID {
					t.Errorf("site 1 %v xTR-ID %s, want xTR1's %s", r.EID, r.XTRID, s.x2ID)
				}
				if r.Source.Addr() == lab.NATPublic {
					t.Errorf("site 1 %v registered directly from the NAT's public address", r.EID)
				}
			}
			rtrBinding := s.waitRTRBinding(t)
			for _, c := range []struct {
				h   *netns.Host
				dst netip.Addr
			}{{s.A, lab.HostB4}, {s.B, lab.HostA4}, {s.A, lab.HostB6}, {s.B, lab.HostA6}} {
				reachable(t, c.h, c.dst, 15*time.Second)
			}
			tcpSend(t, s.A, s.B, lab.HostB4, 1<<20, 60*time.Second)
			tcpSend(t, s.B, s.A, lab.HostA4, 1<<20, 60*time.Second)
			path := stop(t, s.Core)

			fs := frames(t, path)
			direct := countFrames(fs, func(f frame) bool {
				return (slices.Contains(f.ipSrc, lab.NATPublic.String()) && slices.Contains(f.ipDst, s.RLOC2v4.String())) ||
					(slices.Contains(f.ipSrc, s.RLOC2v4.String()) && slices.Contains(f.ipDst, lab.NATPublic.String()))
			})
			if direct != 0 {
				t.Errorf("%d frames between the NAT's public address and xTR2 directly", direct)
			}
			// The binding the RTR sends through is the one the encapsulated
			// Map-Register opened (with `masquerade random` the NAT gives the
			// Map-Server and the RTR different public ports when they are
			// different hosts).
			binding := pub
			for _, f := range fs {
				if len(f.ipSrc) > 0 && f.ipSrc[0] == lab.NATPublic.String() && len(f.ipDst) > 0 && f.ipDst[0] == s.RTRv4.String() &&
					len(f.udpPorts) >= 2 && f.udpPorts[1] == strconv.Itoa(controlPort) && len(f.lispTypes) > 0 && f.lispTypes[0] == strconv.Itoa(typeEncapsulated) {
					p, _ := strconv.Atoi(f.udpPorts[0])
					binding = netip.AddrPortFrom(lab.NATPublic, uint16(p))
				}
			}
			viaRTR := countFrames(fs, func(f frame) bool {
				return len(f.ipSrc) > 0 && f.ipSrc[0] == s.RTRv4.String() && len(f.ipDst) > 0 && f.ipDst[0] == lab.NATPublic.String() &&
					len(f.udpPorts) >= 2 && f.udpPorts[0] == strconv.Itoa(controlPort) && f.udpPorts[1] == strconv.Itoa(int(binding.Port()))
			})
			if rtrBinding.Public != binding {
				t.Errorf("show rtr: public %v, want the binding the encapsulated Map-Register opened %v", rtrBinding.Public, binding)
			}
			if viaRTR == 0 {
				t.Errorf("no frame from the RTR's port %d to the NAT binding %v", controlPort, binding)
			}
			if tc.opt.SeparateRTR {
				// The RTR ⇄ Map-Server leg crosses the core: the relayed
				// Map-Register (ECM, N bit) and the Map-Notify back (ECM, R bit).
				leg := countFrames(fs, func(f frame) bool {
					return f.control(typeEncapsulated, s.RTRv4, s.MSv4) && f.inner(typeMapRegister)
				})
				back := countFrames(fs, func(f frame) bool {
					return f.control(typeEncapsulated, s.MSv4, s.RTRv4) && f.inner(typeMapNotify)
				})
				if leg == 0 || back == 0 {
					t.Errorf("RTR ⇄ Map-Server leg: %d relayed Map-Registers, %d Map-Notifies back", leg, back)
				}
			}
			t.Logf("captured %d frames, %d from RTR:%d to the binding %v (Map-Server saw %v)", len(fs), viaRTR, controlPort, binding, pub)
			natCheckCapture(t, path, s.RTRv4, binding)
		})
	}
}

// natCheckCapture checks a core capture of the NAT lab in tshark. tshark
// picks the LISP dissector by the lower UDP port, which the NAT's public
// ports defeat, so the capture is split and each part decoded as what it
// is: frames from RTR:4342 to xTR1's public data binding pub are LISP data
// (-d udp.port==PORT,lisp-data); frames from that binding (encapsulated
// Map-Registers, Info-Requests) and every Info message (type 7, sent from
// or to a data port) are LISP control; the rest decodes by the usual
// ports. Each inner TCP segment crosses the core twice (to the RTR and
// from it), which TCP analysis would flag as out-of-order: it is off.
func natCheckCapture(t *testing.T, path string, rtr netip.Addr, pub netip.AddrPort) {
	t.Helper()
	nat, port := pub.Addr().String(), strconv.Itoa(int(pub.Port()))
	info := "(udp.payload[0:1] == 70 || udp.payload[0:1] == 78)"
	toBinding := fmt.Sprintf("(ip.src == %s && udp.srcport == %d && ip.dst == %s && udp.dstport == %s && !%s)", rtr, controlPort, nat, port, info)
	control := fmt.Sprintf("((ip.src == %s && udp.srcport == %s) || %s)", nat, port, info)
	for _, part := range []struct {
		name, filter string
		args         []string
	}{
		{"to-binding", toBinding, []string{"-d", "udp.port==" + port + ",lisp-data"}},
		{"control", control, []string{"-d", "udp.port==" + port + ",lisp", "-d", fmt.Sprintf("udp.port==%d,lisp", dataPort)}},
		{"rest", fmt.Sprintf("!%s && !%s", toBinding, control), nil},
	} {
		out := filepath.Join(t.TempDir(), part.name+".pcap")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		b, err := exec.CommandContext(ctx, "tshark", "-r", path, "-Y", part.filter, "-w", out).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("tshark split %s: %v: %s", part.name, err, b)
		}
		n := count(t, out, "")
		t.Logf("capture part %s: %d frames", part.name, n)
		if n == 0 && part.name != "control" {
			t.Errorf("capture part %s is empty", part.name)
			continue
		}
		checkTransferCapture(t, out, part.args...)
	}
}
