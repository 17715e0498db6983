package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
)

// Host is one network namespace of a Topology.
type Host struct {
	topo *Topology
	// Name is the host's short name, as given to Topology.Host.
	Name string
	// NS is the namespace's name: "<prefix>-<Name>".
	NS string

	nextIf int
}

// Topology returns the topology the host belongs to.
func (h *Host) Topology() *Topology { return h.topo }

// String returns the host's short name.
func (h *Host) String() string { return h.Name }

// Command returns an unstarted command that runs argv inside the host's
// namespace (through `ip netns exec`), in its own process group.
func (h *Host) Command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// Run runs argv in the namespace and waits for it; the error holds the
// command's output.
func (h *Host) Run(ctx context.Context, argv ...string) error {
	_, err := h.Output(ctx, argv...)
	return err
}

// Output runs argv in the namespace and returns its standard output; on
// failure the error holds standard error too.
func (h *Host) Output(ctx context.Context, argv ...string) (string, error) {
	out, err := output(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	if err != nil {
		return out, fmt.Errorf("%s: %w", h.Name, err)
	}
	return out, nil
}

// CombinedOutput runs argv in the namespace and returns its standard output
// and standard error interleaved, and the command's error.
func (h *Host) CombinedOutput(ctx context.Context, argv ...string) (string, error) {
	out, err := h.Command(ctx, argv...).CombinedOutput()
	return string(out), err
}

// IP runs `ip -n NS args...`.
func (h *Host) IP(args ...string) error {
	if err := run(context.Background(), "ip", append([]string{"-n", h.NS}, args...)...); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// Sysctl sets "key=value" pairs inside the namespace.
func (h *Host) Sysctl(kv ...string) error {
	return h.Run(context.Background(), append([]string{"sysctl", "-q", "-w"}, kv...)...)
}

// EnableForwarding turns on IPv4 and IPv6 forwarding (a router).
func (h *Host) EnableForwarding() error {
	return h.Sysctl("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
}

// AddRoute adds a route to dst via gateway gw (either family).
func (h *Host) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	return h.IP(family(gw), "route", "replace", dst.String(), "via", gw.String())
}

// AddDeviceRoute adds a route to dst out of device dev.
func (h *Host) AddDeviceRoute(dst netip.Prefix, dev string) error {
	return h.IP(family(dst.Addr()), "route", "replace", dst.String(), "dev", dev)
}

// DelRoute deletes a route to dst (ignoring "no such route").
func (h *Host) DelRoute(dst netip.Prefix) error {
	err := h.IP(family(dst.Addr()), "route", "del", dst.String())
	if err != nil && strings.Contains(err.Error(), "No such process") {
		return nil
	}
	return err
}

// DefaultRoute sets the default route of gw's family via gw.
func (h *Host) DefaultRoute(gw netip.Addr) error {
	return h.IP(family(gw), "route", "replace", "default", "via", gw.String())
}

// FlushRouteCache forgets learned path MTUs and other cached routes.
func (h *Host) FlushRouteCache() error {
	if err := h.IP("-4", "route", "flush", "cache"); err != nil {
		return err
	}
	return h.IP("-6", "route", "flush", "cache")
}

// HasLink reports whether an interface of that name exists in the host.
func (h *Host) HasLink(name string) bool {
	return run(context.Background(), "ip", "-n", h.NS, "link", "show", "dev", name) == nil
}

// LinkMTU returns an interface's MTU.
func (h *Host) LinkMTU(name string) (int, error) {
	b, err := h.readFile("/sys/class/net/" + name + "/mtu")
	if err != nil {
		return 0, err
	}
	var mtu int
	_, err = fmt.Sscan(b, &mtu)
	return mtu, err
}

// readFile reads a file as seen from inside the namespace (for /sys, which
// `ip netns exec` remounts).
func (h *Host) readFile(path string) (string, error) {
	return h.Output(context.Background(), "cat", path)
}

// Start starts argv in the namespace, collecting its standard output and
// standard error (see Proc.Output); Close stops it.
func (h *Host) Start(argv ...string) (*Proc, error) {
	return h.StartCommand(h.Command(context.Background(), argv...))
}

// StartCommand starts a command made by Command and tracks it so Close stops
// it. Unless the caller set them, its output goes to Proc.Output.
func (h *Host) StartCommand(cmd *exec.Cmd) (*Proc, error) {
	p := newProc(h, cmd)
	if err := p.start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", h.Name, strings.Join(cmd.Args, " "), err)
	}
	h.topo.track(p)
	return p, nil
}

// Bridge creates a bridge interface in the host with the given addresses;
// attach links to it with Iface.SetMaster.
func (h *Host) Bridge(name string, addrs ...netip.Prefix) (*Iface, error) {
	if err := h.IP("link", "add", "name", name, "type", "bridge"); err != nil {
		return nil, err
	}
	i := &Iface{Host: h, Name: name}
	for _, a := range addrs {
		if err := i.AddAddr(a); err != nil {
			return nil, err
		}
	}
	return i, h.IP("link", "set", "dev", name, "up")
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "-4"
	}
	return "-6"
}
