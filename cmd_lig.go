package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/lispd/lispd/conf"
	"github.com/lispd/lispd/ctl/msg"
	"github.com/lispd/lispd/internal/aligned"
	"github.com/lispd/lispd/internal/entropy"
	"github.com/lispd/lispd/internal/sock"
)

func init() {
	register(&command{
		name:    "lig",
		args:    "[-m MAP-RESOLVER] [-n COUNT] [-t TIMEOUT] [-s SOURCE] [--iid N] [-c FILE] EID",
		summary: "LISP Internet Groper: ask the mapping system for an EID's mapping",
		help: `Sends a Map-Request for EID, inside an Encapsulated Control Message, to a
Map-Resolver and prints the Map-Reply that comes back (from the ETR, or
from the resolver for a negative reply): each record's EID prefix, TTL,
authoritative bit and locators with state, priority and weight, and the
round-trip time. Works without a running daemon, from any machine: lig uses
its own UDP socket on an ephemeral port (inner and outer source port), with
the local address toward the resolver (or -s SOURCE) as ITR-RLOC.

MAP-RESOLVER is an IP address, optionally with a port (192.0.2.10,
192.0.2.10:4342, [2001:db8::10]:4342); default: the first of
xtr.map_resolvers in the configuration (-c FILE, else /var/etc/lispd.toml
when present, else /etc/lispd/lispd.toml). EID is an IP address. lig does
not look names up in the DNS (the router build leaves the resolver out to
stay small): use an address.
Exits 0 when at least one Map-Reply came, 1 when none did.`,
		run: runLig,
	})
}

// ligOptions is one lig run.
type ligOptions struct {
	resolver netip.AddrPort // where Map-Requests go
	eid      netip.Addr     // the EID looked up
	eidName  string         // as typed
	iid      uint32         // instance-id of the EID
	count    int            // Map-Requests to send, one after the other
	timeout  time.Duration  // wait for each Map-Reply
	source   netip.Addr     // local address (ITR-RLOC); invalid = the one toward the resolver
}

// secondsOrDuration is a flag value taking "2", "0.5" (seconds) or "500ms".
type secondsOrDuration struct{ d *time.Duration }

func (s secondsOrDuration) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s secondsOrDuration) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		*s.d = time.Duration(f * float64(time.Second))
	} else if d, err := time.ParseDuration(v); err == nil {
		*s.d = d
	} else {
		return fmt.Errorf("%q is neither seconds nor a duration such as 500ms", v)
	}
	if *s.d <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

func runLig(args []string) int {
	fs := newFlagSet(commands["lig"])
	cfgPath := configFlag(fs)
	resolver := fs.String("m", "", "`MAP-RESOLVER` to ask (default: the first of xtr.map_resolvers)")
	count := fs.Int("n", 1, "send `COUNT` Map-Requests")
	timeout := 2 * time.Second
	fs.Var(secondsOrDuration{&timeout}, "t", "wait `TIMEOUT` for each Map-Reply (seconds, or a duration such as 500ms)")
	source := fs.String("s", "", "local `SOURCE` address to send from, used as ITR-RLOC (default: the one toward the resolver)")
	iid := fs.Uint("iid", 0, "instance-id `N` of the EID (default: xtr.instance_id of the configuration, else 0)")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	switch {
	case len(pos) == 0:
		return usageError(fs, "which EID?")
	case len(pos) > 1:
		return usageError(fs, "unexpected argument %q", pos[1])
	case *count < 1:
		return usageError(fs, "-n %d: need at least 1", *count)
	}
	o := ligOptions{eidName: pos[0], count: *count, timeout: timeout}

	cfgFile := systemConfigPath()
	if configGiven(fs) {
		cfgFile = *cfgPath
	}
	cfgResolvers, cfgIID := ligConfig(cfgFile)
	if flagGiven(fs, "iid") {
		if *iid > conf.MaxInstanceID {
			return usageError(fs, "--iid %d out of range 0..%d", *iid, conf.MaxInstanceID)
		}
		o.iid = uint32(*iid)
	} else {
		o.iid = cfgIID
	}
	var err error
	if *resolver != "" {
		if o.resolver, err = resolveHostPort(*resolver, msg.ControlPort); err != nil {
			return usageError(fs, "-m %s: %v", *resolver, err)
		}
	} else if len(cfgResolvers) > 0 {
		o.resolver = netip.AddrPortFrom(cfgResolvers[0], msg.ControlPort)
	} else {
		return usageError(fs, "no map-resolver: give -m MAP-RESOLVER (none in xtr.map_resolvers of %s)", cfgFile)
	}
	if o.eid, err = resolveHost(o.eidName); err != nil {
		return usageError(fs, "EID %s: %v", o.eidName, err)
	}
	if *source != "" {
		if o.source, err = netip.ParseAddr(*source); err != nil {
			return usageError(fs, "-s %q is not an IP address", *source)
		}
	}
	got, err := lig(o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "lispd lig: %v\n", err)
		return exitFail
	}
	if got == 0 {
		return exitFail
	}
	return exitOK
}

// ligConfig reads the map-resolvers and instance-id from a configuration,
// leniently (lig must work with a half-edited file, or none).
func ligConfig(path string) ([]netip.Addr, uint32) {
	if cfg, err := conf.Load(path); err == nil {
		if cfg.XTR == nil {
			return nil, 0
		}
		return cfg.XTR.MapResolvers, cfg.XTR.InstanceID
	}
	var raw struct {
		XTR struct {
			MapResolvers []string `toml:"map_resolvers"`
			InstanceID   uint32   `toml:"instance_id"`
		} `toml:"xtr"`
	}
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		return nil, 0
	}
	var out []netip.Addr
	for _, s := range raw.XTR.MapResolvers {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out, raw.XTR.InstanceID
}

// resolveHostPort parses ADDRESS, ADDRESS:PORT or [V6]:PORT.
func resolveHostPort(s string, defPort uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	host, port := s, defPort
	// HOST:PORT and [HOST]:PORT; a bare IPv6 address has several colons.
	if i := strings.LastIndexByte(s, ':'); i >= 0 && (strings.Count(s, ":") == 1 || strings.HasPrefix(s, "[") && s[i-1] == ']') {
		p := s[i+1:]
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return netip.AddrPort{}, fmt.Errorf("bad port %q", p)
		}
		host, port = s[:i], uint16(n)
	}
	a, err := resolveHost(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, port), nil
}

// resolveHost parses an address ([V6] brackets allowed). Names are not
// looked up: lispd carries no DNS resolver.
func resolveHost(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address (lig does not look names up)", s)
	}
	return a.Unmap(), nil
}

// localAddrToward returns the local address the kernel would send from
// toward dst (no packet is sent: connecting a UDP socket only routes).
func localAddrToward(dst netip.AddrPort) (netip.Addr, error) {
	c, err := sock.DialUDP(dst)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no route to %v: %w", dst.Addr(), err)
	}
	defer c.Close()
	return c.LocalAddr().Addr(), nil
}

// lig sends o.count Map-Requests and prints each Map-Reply. It returns how
// many Map-Replies came; err is for failures to even send.
func lig(o ligOptions, w io.Writer) (int, error) {
	local := o.source
	if !local.IsValid() {
		var err error
		if local, err = localAddrToward(o.resolver); err != nil {
			return 0, err
		}
	}
	if local.Is4() != o.resolver.Addr().Is4() {
		return 0, fmt.Errorf("source %v and map-resolver %v are of different address families", local, o.resolver.Addr())
	}
	pc, err := sock.ListenUDP(netip.AddrPortFrom(local, 0), nil)
	if err != nil {
		return 0, fmt.Errorf("opening a UDP socket on %v: %w", local, err)
	}
	defer pc.Close()
	port := pc.LocalAddr().Port()

	// The inner header goes from our RLOC to the EID; they must share a
	// family, so an EID of the other family gets the unspecified address
	// (the Map-Reply goes to the ITR-RLOC anyway).
	innerSrc := local
	if local.Is4() != o.eid.Is4() {
		innerSrc = netip.IPv6Unspecified()
		if o.eid.Is4() {
			innerSrc = netip.IPv4Unspecified()
		}
	}
	eidPrefix := netip.PrefixFrom(o.eid, o.eid.BitLen())
	eidText := o.eid.String()
	if o.eidName != eidText {
		eidText = o.eidName + " (" + eidText + ")"
	}
	if o.iid != 0 {
		eidText = fmt.Sprintf("[%d]%s", o.iid, eidText)
	}

	received := 0
	buf := make([]byte, 65536)
	var rep msg.MapReply
	for i := 0; i < o.count; i++ {
		nonce := randomNonce()
		req := msg.MapRequest{
			Nonce:    nonce,
			ITRRLOCs: []msg.Address{msg.AddrOf(local)},
			EIDs:     []msg.EID{msg.EIDOf(o.iid, eidPrefix)},
		}
		ecm := msg.ECM{
			Src:     netip.AddrPortFrom(innerSrc, port),
			Dst:     netip.AddrPortFrom(o.eid, msg.ControlPort),
			Message: req.Append(nil),
		}
		pkt := ecm.Append(nil)
		fmt.Fprintf(w, "Send map-request to %s for %s ...\n", resolverText(o.resolver), eidText)
		sent := time.Now()
		if _, err := pc.WriteToUDPAddrPort(pkt, o.resolver); err != nil {
			return received, fmt.Errorf("sending to %v: %w", o.resolver, err)
		}
		from, ok, err := awaitReply(pc, buf, &rep, nonce, sent.Add(o.timeout))
		if err != nil {
			return received, err
		}
		if !ok {
			fmt.Fprintf(w, "*** No map-reply for %s from %s within %v (timed out) ***\n", eidText, resolverText(o.resolver), o.timeout)
			continue
		}
		received++
		rtt := time.Since(sent)
		fmt.Fprintf(w, "Received map-reply from %s with rtt %.5f secs\n", from.Addr(), rtt.Seconds())
		printReply(w, &rep, o.eid)
		if i+1 < o.count {
			fmt.Fprintln(w)
		}
	}
	if o.count > 1 {
		fmt.Fprintf(w, "\n%d map-requests sent, %d map-replies received\n", o.count, received)
	}
	return received, nil
}

func resolverText(ap netip.AddrPort) string {
	if ap.Port() == msg.ControlPort {
		return ap.Addr().String()
	}
	return ap.String()
}

// awaitReply reads until a Map-Reply with nonce arrives (true) or the
// deadline passes (false). Anything else is ignored.
func awaitReply(pc *sock.UDPConn, buf []byte, rep *msg.MapReply, nonce uint64, deadline time.Time) (netip.AddrPort, bool, error) {
	if err := pc.SetReadDeadline(deadline); err != nil {
		return netip.AddrPort{}, false, err
	}
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return netip.AddrPort{}, false, nil
			}
			// An ICMP error reported on the socket (e.g. port unreachable):
			// keep waiting for the deadline, a reply may still come.
			if time.Now().After(deadline) {
				return netip.AddrPort{}, false, nil
			}
			continue
		}
		if t, err := msg.PeekType(buf[:n]); err != nil || t != msg.TypeMapReply {
			continue
		}
		if err := rep.Decode(buf[:n]); err != nil || rep.Nonce != nonce {
			continue
		}
		return netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), true, nil
	}
}

// printReply prints the records of a Map-Reply the way the classic lig
// does.
func printReply(w io.Writer, rep *msg.MapReply, eid netip.Addr) {
	if len(rep.Records) == 0 {
		fmt.Fprintln(w, "  (the map-reply holds no record)")
		return
	}
	fmt.Fprintf(w, "Mapping entry for EID %s:\n", eid)
	for i := range rep.Records {
		r := &rep.Records[i]
		auth := "not auth"
		if r.Authoritative {
			auth = "auth"
		}
		fmt.Fprintf(w, "%s, record ttl: %d, %s, map-version: %d\n", r.EID, r.TTL, auth, r.MapVersion)
		if len(r.Locators) == 0 {
			fmt.Fprintf(w, "  Negative cache entry, action: %s\n", r.Action)
			continue
		}
		tw := aligned.NewWriter(w, 2)
		fmt.Fprintln(tw, "  Locator\tState\tPriority/Weight")
		for j := range r.Locators {
			l := &r.Locators[j]
			st := "down"
			if l.Reachable {
				st = "up"
			}
			if l.Local {
				st += ", local"
			}
			if l.Probed {
				st += ", probed"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d/%d\n", l.Addr, st, l.Priority, l.Weight)
		}
		tw.Flush()
	}
}

// randomNonce returns a random 64-bit nonce.
func randomNonce() uint64 {
	var b [8]byte
	entropy.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
