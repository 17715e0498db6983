// Command demo builds a small LISP network in network namespaces (`make
// demo`, as root): a Map-Server/Map-Resolver "ms", two xTRs on a shared core
// (a bridge) and a host behind each, runs build/lispd in each router, pings
// host B from host A over IPv4 and IPv6 EIDs, prints the map-cache and the
// registrations, and tears everything down (also on Ctrl-C).
//
// By default the xTRs learn mappings from the Map-Server (register and
// resolve); -static gives them static mappings of each other's site as well,
// so the demo pings even without the control plane.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

var (
	bin     = flag.String("lispd", "build/lispd", "lispd binary (make build writes build/lispd)")
	static  = flag.Bool("static", false, "also give the xTRs static mappings (no control plane needed)")
	verbose = flag.Bool("v", false, "show lispd's own log output at the end")
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	start := time.Now()
	var logger netns.Logger = netns.LoggerFunc(func(string, ...any) {})
	if *verbose {
		logger = netns.LoggerFunc(log.Printf)
	}
	topo, err := netns.Open(logger)
	if err != nil {
		log.Fatalf("demo: %v (run as root: sudo make demo)", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		<-ctx.Done()
		if context.Cause(ctx) != context.Canceled {
			fmt.Println("\ninterrupted: tearing the network down")
			topo.Close()
			os.Exit(130)
		}
	}()
	err = run(topo)
	fmt.Println("\n== tearing down")
	if cerr := topo.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if left := leftovers(topo.Prefix()); len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("namespaces left: %v", left))
	} else {
		fmt.Println("   all namespaces removed")
	}
	fmt.Printf("== done in %.1fs\n", time.Since(start).Seconds())
	if err != nil {
		log.Fatalf("demo: %v", err)
	}
}

func leftovers(prefix string) []string {
	var left []string
	for _, n := range netns.Namespaces() {
		if strings.HasPrefix(n, prefix) {
			left = append(left, n)
		}
	}
	return left
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func run(topo *netns.Topology) error {
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("%s: %w (run `make build` first)", *bin, err)
	}
	step("building the network (namespaces prefixed %s-)", topo.Prefix())
	l, err := lab.Build(topo, lab.Options{Core: lab.CoreBridge})
	if err != nil {
		return err
	}
	fmt.Printf("   host a  %-16s %-16s behind xtr1 (site1 %s, %s)\n", lab.HostA4, lab.HostA6, lab.Site1v4, lab.Site1v6)
	fmt.Printf("   host b  %-16s %-16s behind xtr2 (site2 %s, %s)\n", lab.HostB4, lab.HostB6, lab.Site2v4, lab.Site2v6)
	fmt.Printf("   core    xtr1 %s  xtr2 %s  ms %s (bridge)\n", l.RLOC1v4, l.RLOC2v4, l.MSv4)

	step("starting lispd: Map-Server/Map-Resolver on ms")
	msCfg, err := l.WriteConfig("ms", l.MapServerTOML())
	if err != nil {
		return err
	}
	ms, err := l.StartLispd(l.MS, "ms", *bin, msCfg)
	if err != nil {
		return err
	}
	if err := ms.WaitRunning(time.Second); err != nil {
		return fmt.Errorf("Map-Server: %w", err)
	}
	mode := "registering with and resolving through ms"
	if *static {
		mode += ", plus static mappings (-static)"
	}
	step("starting lispd on xtr1 and xtr2 (%s)", mode)
	var xtrs []*lab.Daemon
	for i, h := range []*netns.Host{l.XTR1, l.XTR2} {
		c := lab.XTRConfig{Side: i + 1, MapServer: true, Static: *static, LogLevel: "info",
			Extra: `register_interval = "5s"`}
		name := fmt.Sprintf("xtr%d", i+1)
		path, err := l.WriteConfig(name, l.XTRTOML(c))
		if err != nil {
			return err
		}
		d, err := l.StartLispd(h, name, *bin, path)
		if err != nil {
			return err
		}
		if err := d.WaitTUN(c.TUNName(), 5*time.Second); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		xtrs = append(xtrs, d)
	}
	if !*static {
		// Give the ETRs a moment to register.
		time.Sleep(1500 * time.Millisecond)
	}

	var failed []string
	for _, dst := range []string{lab.HostB4.String(), lab.HostB6.String()} {
		step("ping from host a to host b %s", dst)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := l.A.CombinedOutput(ctx, "ping", "-n", "-c", "3", "-i", "0.3", "-W", "2", dst)
		cancel()
		fmt.Print(indent(out))
		if err != nil {
			failed = append(failed, dst)
		}
	}

	for _, s := range []struct {
		d    *lab.Daemon
		args []string
	}{{xtrs[0], []string{"map-cache"}}, {xtrs[1], []string{"map-cache"}}, {ms, []string{"registrations"}}, {xtrs[0], []string{"registrations"}}} {
		step("lispd show %s on %s", strings.Join(s.args, " "), s.d.Name)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := s.d.Show(ctx, s.args...)
		cancel()
		if err != nil {
			fmt.Printf("   (not available yet: %v)\n", err)
			continue
		}
		fmt.Print(indent(out))
	}
	if len(failed) > 0 {
		return fmt.Errorf("no reply from host b at %s", strings.Join(failed, ", "))
	}
	return nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "   " + strings.ReplaceAll(s, "\n", "\n   ") + "\n"
}
