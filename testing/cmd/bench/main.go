// Command bench is lispd's throughput harness (`make bench`): host A —
// xTR1 — xTR2 — host B in network namespaces with a wire-like core (TSO,
// GSO and USO off on both ends of the core link, GRO on where the xTRs
// receive), measured over (a) the plain routed path, (b) the kernel's VXLAN
// between the xTRs, (c) lispd with static mappings and (e) fwd/kpath's
// in-kernel eBPF path (testing/cmd/kpathxtr) with the same mappings: UDP
// packets/s and Mbit/s delivered with loss (64/512/1400-byte packets,
// offered load stepped up), TCP with iperf3, lispd's CPU seconds per GB,
// and the median ping RTT idle and under half of the saturating load. It prints a table with
// lispd's ratios to (a) and (b). Run as root; -quick takes about a minute.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
)

var (
	quick     = flag.Bool("quick", false, "short run (about a minute): fewer sizes and steps, shorter runs")
	lispd     = flag.String("lispd", "", "lispd binary (default: build the module's)")
	verbose   = flag.Bool("v", false, "log every step")
	tcpTime   = flag.Duration("tcp", 5*time.Second, "iperf3 duration")
	iperfArgs = flag.String("iperf-args", "", "extra iperf3 client arguments, space-separated (e.g. \"-P 4\" or \"-w 8M\"), for every path")
	udpTime   = flag.Duration("udp", 2*time.Second, "duration of each UDP load step")
	pings     = flag.Int("pings", 50, "pings per RTT measurement (interval 10 ms)")
	runs      = flag.Int("runs", 1, "measure every path this many times, interleaved; cells are medians, ratios medians of the per-run ratios")
	tcpOnly   = flag.Bool("tcp-only", false, "measure TCP only (no UDP, no RTT)")
	paths     = flag.String("paths", "plain,vxlan,lispd,lispd-off", "comma-separated paths to measure (plain, vxlan, lispd, lispd-off, lispd-kernel, kpath, kpath-xdp, kpath-gro)")
	perfDir   = flag.String("perf", "", "record `DIR`/PATH-xtrN-RUN.data with perf record -g for each lispd during iperf3")
	perfStat  = flag.String("perf-stat", "", "with -perf: perf stat -e `EVENTS` per lispd instead of perf record")
	perfAll   = flag.Bool("perf-all", false, "with -perf: one system-wide recording (perf record -a) per path instead")
)

// result holds one path's measurements.
type result struct {
	name      string
	ok        bool
	note      string
	tcpBps    float64
	tcpRetr   int
	udp       map[int]udpResult // by packet size
	rttIdle   time.Duration
	rttLoaded time.Duration
	cpuPerGB  float64 // lispd CPU seconds per GB (TCP) summed over both xTRs, lispd only
	cpuEncap  float64 // xTR1's (the encapsulating side of A → B) CPU seconds per GB
	cpuDecap  float64 // xTR2's (the decapsulating side) CPU seconds per GB
	rssKB     float64 // largest peak RSS (VmHWM) of the two daemons, KB
	tunDrops  int64   // packets the kernel dropped at the TUNs' queues during TCP, lispd only; -1 unknown
	stats     string  // lispd: xTR1's and xTR2's offload counters after the run
	idle      float64 // share of the machine's CPU time left idle during iperf3
	softirq   float64 // share of the machine's CPU time spent in softirq during iperf3
	busyPerGB float64 // the machine's busy CPU seconds during iperf3 per GB received (every process counts)
}

type udpResult struct {
	offered, delivered float64 // packets/s
	mbps, loss         float64
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if *quick {
		*tcpTime, *udpTime, *pings = 3*time.Second, 1500*time.Millisecond, 30
	}
	var logger netns.Logger
	if *verbose {
		logger = netns.LoggerFunc(log.Printf)
	}
	topo, err := netns.Open(logger)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := 0
	func() {
		defer func() {
			if err := topo.Close(); err != nil {
				log.Printf("cleanup: %v", err)
				code = 1
			}
		}()
		stopOnSignal(ctx, topo)
		if err := run(topo); err != nil {
			log.Print(err)
			code = 1
		}
	}()
	cancel()
	os.Exit(code)
}

// stopOnSignal tears the topology down and exits on Ctrl-C.
func stopOnSignal(ctx context.Context, topo *netns.Topology) {
	go func() {
		<-ctx.Done()
		if ctx.Err() == nil || context.Cause(ctx) == context.Canceled {
			return
		}
		log.Print("interrupted: cleaning up")
		topo.Close()
		os.Exit(130)
	}()
}

type bench struct {
	l        *lab.Lab
	udpgen   string
	lispd    string
	kpathxtr string
	path     string // the path being measured
	tag      string // path and run, for file names
}

func run(topo *netns.Topology) error {
	tmp, err := os.MkdirTemp("", "lispd-bench-")
	if err != nil {
		return err
	}
	topo.OnClose(func() error { return os.RemoveAll(tmp) }) // also on Ctrl-C
	b := &bench{}
	log.Print("building udpgen")
	if b.udpgen, err = lab.BuildGo(tmp, "udpgen", lab.Module+"/testing/cmd/udpgen"); err != nil {
		return err
	}
	if strings.Contains(","+*paths+",", ",kpath") {
		log.Print("building kpathxtr")
		if b.kpathxtr, err = lab.BuildGo(tmp, "kpathxtr", lab.Module+"/testing/cmd/kpathxtr"); err != nil {
			return err
		}
	}
	b.lispd = *lispd
	if b.lispd == "" {
		log.Print("building lispd")
		if b.lispd, err = lab.BuildLispd(tmp); err != nil {
			log.Printf("lispd not built (%v): its column stays empty", err)
		}
	}
	if b.l, err = lab.Build(topo, lab.Options{Core: lab.CoreDirect, WireLike: true}); err != nil {
		return err
	}
	sizes := []int{64, 512, 1400}
	if *quick {
		sizes = []int{64, 1400}
	}
	if *tcpOnly {
		sizes = nil
	}
	all := []struct {
		name  string
		setup func() (func() error, []*lab.Daemon, error)
	}{
		{"plain", func() (func() error, []*lab.Daemon, error) { u, err := b.l.RoutePlain(); return u, nil, err }},
		{"vxlan", func() (func() error, []*lab.Daemon, error) { u, err := b.l.SetupVXLAN(); return u, nil, err }},
		{"lispd", func() (func() error, []*lab.Daemon, error) { return b.startLispd("auto", "") }},
		{"lispd-off", func() (func() error, []*lab.Daemon, error) { return b.startLispd("off", "") }},
		{"lispd-kernel", func() (func() error, []*lab.Daemon, error) { return b.startLispd("auto", "auto") }},
		{"kpath", func() (func() error, []*lab.Daemon, error) { u, err := b.startKpath(); return u, nil, err }},
		{"kpath-xdp", func() (func() error, []*lab.Daemon, error) { u, err := b.startKpath("-decap-xdp"); return u, nil, err }},
		{"kpath-gro", func() (func() error, []*lab.Daemon, error) { u, err := b.startKpath("-decap-gro"); return u, nil, err }},
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*paths, ",") {
		want[strings.TrimSpace(n)] = true
	}
	runsByPath := map[string][]*result{}
	for run := 0; run < max(*runs, 1); run++ {
		for _, p := range all {
			if !want[p.name] {
				continue
			}
			r := &result{name: p.name, udp: map[int]udpResult{}}
			runsByPath[p.name] = append(runsByPath[p.name], r)
			if err := b.l.FlushRouteCaches(); err != nil {
				return err
			}
			undo, d, err := p.setup()
			if err != nil {
				r.note = err.Error()
				log.Printf("%s: %v", p.name, err)
				continue
			}
			log.Printf("run %d: measuring %s", run+1, p.name)
			b.path = p.name
			b.tag = fmt.Sprintf("%s-run%d", p.name, run+1)
			err = b.measure(r, d, sizes)
			if undo != nil {
				if uerr := undo(); uerr != nil && err == nil {
					err = uerr
				}
			}
			if err != nil {
				r.note = err.Error()
				log.Printf("%s: %v", p.name, err)
				continue
			}
			r.ok = true
			if *verbose {
				log.Printf("  %s: TCP %.3g Gbit/s, CPU s/GB encap %.3g decap %.3g, peak RSS %.0f KB",
					p.name, r.tcpBps/1e9, r.cpuEncap, r.cpuDecap, r.rssKB)
			}
		}
	}
	var names []string
	for _, p := range all {
		if want[p.name] {
			names = append(names, p.name)
		}
	}
	printTable(names, runsByPath, sizes)
	return nil
}

// startLispd starts lispd with static mappings on both xTRs; its undo stops
// the daemons (which remove their TUNs and routes).
func (b *bench) startLispd(offload, kernelPath string) (func() error, []*lab.Daemon, error) {
	if b.lispd == "" {
		return nil, nil, errors.New("lispd not wired: no binary")
	}
	var ds []*lab.Daemon
	stopAll := func() error {
		var errs []error
		for _, d := range ds {
			errs = append(errs, d.Proc.Stop())
		}
		return errors.Join(errs...)
	}
	for i, h := range []*netns.Host{b.l.XTR1, b.l.XTR2} {
		c := lab.XTRConfig{Side: i + 1, Static: true, LogLevel: "info", TUNOffload: offload, KernelPath: kernelPath}
		name := fmt.Sprintf("xtr%d", i+1)
		path, err := b.l.WriteConfig(name, b.l.XTRTOML(c))
		if err != nil {
			return nil, nil, err
		}
		d, err := b.l.StartLispd(h, name, b.lispd, path)
		if err != nil {
			return nil, nil, err
		}
		ds = append(ds, d)
		if err := d.WaitTUN(c.TUNName(), 5*time.Second); err != nil {
			stopAll()
			return nil, nil, fmt.Errorf("lispd not wired: %w", err)
		}
		if kernelPath != "" {
			// The log says within moments whether the kernel took it.
			deadline := time.Now().Add(3 * time.Second)
			for !strings.Contains(d.Log(), "in-kernel data path on") {
				if time.Now().After(deadline) {
					stopAll()
					return nil, nil, fmt.Errorf("lispd on %s: no in-kernel data path: %s", h, d.Log())
				}
				time.Sleep(50 * time.Millisecond)
			}
			log.Printf("%s: decap GRO %s", name, decapGRO(d))
		}
	}
	return stopAll, ds, nil
}

// decapGRO returns what d's show stats says of decap GRO at its uplinks'
// XDP hooks, once it has attached to one (within a few seconds).
func decapGRO(d *lab.Daemon) string {
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st := &admin.Stats{}
		err := d.ShowJSON(ctx, st, "stats")
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		if k := st.KernelPath; k != nil && k.DecapGRO != "" {
			return k.DecapGRO
		}
		last = "not reported"
	}
	return "unknown (" + last + ")"
}

// startKpath runs testing/cmd/kpathxtr on both xTRs: fwd/kpath's programs
// with the static mappings lispd gets, on a TUN that nobody reads. Its undo
// stops them (closing the TUNs and the programs' links).
func (b *bench) startKpath(extra ...string) (func() error, error) {
	var ps []*netns.Proc
	stopAll := func() error {
		var errs []error
		for _, p := range ps {
			errs = append(errs, p.Stop())
		}
		return errors.Join(errs...)
	}
	l := b.l
	for _, s := range []struct {
		h             *netns.Host
		wan           string
		local, remote string
		eids          string
	}{
		{l.XTR1, l.XTR1WAN.Name, l.RLOC1v4.String(), l.RLOC2v4.String(), lab.Site2v4.String()},
		{l.XTR2, l.XTR2WAN.Name, l.RLOC2v4.String(), l.RLOC1v4.String(), lab.Site1v4.String()},
	} {
		p, err := s.h.Start(append([]string{b.kpathxtr, "-tun", (lab.XTRConfig{}).TUNName(), "-wan", s.wan,
			"-local", s.local, "-remote", s.remote, "-eids", s.eids}, extra...)...)
		if err != nil {
			stopAll()
			return nil, err
		}
		ps = append(ps, p)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.Output(), "ready") {
			if p.Exited() || time.Now().After(deadline) {
				stopAll()
				return nil, fmt.Errorf("kpathxtr on %s did not start: %s", s.h, p.Output())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return func() error {
		err := stopAll()
		if *verbose {
			for _, p := range ps {
				log.Printf("  kpathxtr: %s", strings.TrimSpace(p.Output()))
			}
		}
		return err
	}, nil
}

func (b *bench) measure(r *result, d []*lab.Daemon, sizes []int) error {
	l := b.l
	if _, err := l.A.Output(context.Background(), "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.HostB4.String()); err != nil {
		return fmt.Errorf("no connectivity: %w", err)
	}
	var err error
	if !*tcpOnly {
		if r.rttIdle, err = b.medianRTT(); err != nil {
			return err
		}
	}
	for _, size := range sizes {
		u, err := b.udpSteps(size)
		if err != nil {
			return err
		}
		r.udp[size] = u
	}
	cpu0, err := b.lispdCPU(d)
	if err != nil {
		return err
	}
	hasTUN := len(d) > 0 || strings.HasPrefix(b.path, "kpath")
	drops0 := b.tunDrops(hasTUN)
	stopPerf := b.startPerf(d)
	busy0, total0 := cpuTicks()
	soft0 := softirqTicks()
	bytes, bps, retr, err := b.iperf()
	busy1, total1 := cpuTicks()
	soft1 := softirqTicks()
	stopPerf()
	if total1 > total0 {
		r.idle = 1 - float64(busy1-busy0)/float64(total1-total0)
		r.softirq = float64(soft1-soft0) / float64(total1-total0)
	}
	if bytes > 0 {
		r.busyPerGB = float64(busy1-busy0) / clockTicks / (float64(bytes) / 1e9)
	}
	if err != nil {
		return err
	}
	r.tcpBps, r.tcpRetr = bps, retr
	r.tunDrops = -1
	if drops1 := b.tunDrops(hasTUN); drops0 >= 0 && drops1 >= 0 {
		r.tunDrops = drops1 - drops0
	}
	if len(d) > 0 {
		cpu1, err := b.lispdCPU(d)
		if err != nil {
			return err
		}
		gb := float64(bytes) / 1e9
		r.cpuEncap = (cpu1[0] - cpu0[0]).Seconds() / gb
		r.cpuDecap = (cpu1[1] - cpu0[1]).Seconds() / gb
		r.cpuPerGB = r.cpuEncap + r.cpuDecap
		for _, x := range d {
			if kb, err := peakRSS(x.Proc.Pid()); err == nil && kb > r.rssKB {
				r.rssKB = kb
			}
			if out, err := x.Show(context.Background(), "stats"); err == nil {
				r.stats += x.Name + ":\n" + offloadLines(out)
			}
		}
		if *verbose {
			log.Printf("  offload counters after TCP:\n%s", r.stats)
		}
	}
	// RTT under half of the saturating load (1400-byte UDP).
	sat := r.udp[1400].delivered
	if sat > 0 {
		recv, err := l.B.Start(b.udpgen, "recv", "-listen", lab.HostB4.String()+":9001")
		if err != nil {
			return err
		}
		send, err := l.A.Start(b.udpgen, "send", "-to", lab.HostB4.String()+":9001", "-size", "1400",
			"-pps", strconv.Itoa(int(sat/2)), "-t", "60s", "-flows", "4")
		if err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		r.rttLoaded, err = b.medianRTT()
		send.Stop()
		recv.Stop()
		if err != nil {
			return err
		}
	}
	return nil
}

// lispdCPU returns the CPU time of each lispd process (xTR1, xTR2; none
// without lispd).
func (b *bench) lispdCPU(ds []*lab.Daemon) ([]time.Duration, error) {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		c, err := d.CPUTime()
		if err != nil {
			return nil, fmt.Errorf("lispd %s CPU time: %w", d.Name, err)
		}
		out[i] = c
	}
	return out, nil
}

// cpuTicks returns the machine's busy and total CPU ticks (/proc/stat;
// idle and iowait are not busy).
func cpuTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, x := range f[1:] {
		v, _ := strconv.ParseUint(x, 10, 64)
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

// clockTicks is USER_HZ, the unit of /proc/stat (100 on every Linux
// architecture lispd runs on).
const clockTicks = 100

// softirqTicks returns the machine's CPU ticks spent in softirq (/proc/stat).
func softirqTicks() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 {
		return 0
	}
	v, _ := strconv.ParseUint(f[7], 10, 64)
	return v
}

// peakRSS returns a process's peak resident set size (VmHWM) in KB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// offloadLines keeps the offload and drop counters of `show stats`.
func offloadLines(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, "offload") || strings.Contains(l, "gso") || strings.Contains(l, "gro") ||
			strings.Contains(l, "coalesc") || strings.Contains(l, "super") || strings.Contains(l, "segment") ||
			strings.Contains(l, "joined") || strings.Contains(l, "drop") {
			b.WriteString("  " + strings.TrimSpace(line) + "\n")
		}
	}
	return b.String()
}

// startPerf runs `perf record -g` on each lispd while iperf3 runs (with
// -perf DIR) and returns the function that stops it.
func (b *bench) startPerf(ds []*lab.Daemon) func() {
	if *perfDir == "" {
		return func() {}
	}
	var cmds []*exec.Cmd
	if *perfAll {
		c := exec.Command("perf", "record", "-q", "-a", "-g", "-o", filepath.Join(*perfDir, b.tag+"-all.data"))
		if err := c.Start(); err == nil {
			cmds = append(cmds, c)
		}
		ds = nil
	}
	for _, d := range ds {
		out := filepath.Join(*perfDir, fmt.Sprintf("%s-%s.data", b.tag, d.Name))
		args := []string{"record", "-q", "-g"}
		if *perfStat != "" {
			args = []string{"stat", "-e", *perfStat}
			out = strings.TrimSuffix(out, ".data") + ".stat"
		}
		c := exec.Command("perf", append(args, "-o", out, "-p", strconv.Itoa(d.Proc.Pid()))...)
		if err := c.Start(); err != nil {
			log.Printf("perf: %v", err)
			continue
		}
		cmds = append(cmds, c)
	}
	time.Sleep(200 * time.Millisecond)
	return func() {
		for _, c := range cmds {
			_ = c.Process.Signal(os.Interrupt)
			_ = c.Wait()
		}
	}
}

// medianRTT pings B from A (-i 0.01) and returns the median RTT.
func (b *bench) medianRTT() (time.Duration, error) {
	out, _ := b.l.A.CombinedOutput(context.Background(), "ping", "-n", "-c", strconv.Itoa(*pings),
		"-i", "0.01", "-W", "1", lab.HostB4.String())
	var rtts []float64
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, "time=")
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+5:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			rtts = append(rtts, v)
		}
	}
	if len(rtts) < *pings/2 {
		return 0, fmt.Errorf("ping: only %d of %d replies", len(rtts), *pings)
	}
	sort.Float64s(rtts)
	return time.Duration(rtts[len(rtts)/2] * float64(time.Millisecond)), nil
}

type genResult struct {
	Packets int64   `json:"packets"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

// udpOnce offers pps (0 = unlimited) packets/s of size bytes for udpTime.
func (b *bench) udpOnce(size, pps int) (udpResult, error) {
	l := b.l
	recv, err := l.B.Start(b.udpgen, "recv", "-listen", lab.HostB4.String()+":9000")
	if err != nil {
		return udpResult{}, err
	}
	time.Sleep(100 * time.Millisecond)
	out, err := l.A.Output(context.Background(), b.udpgen, "send", "-to", lab.HostB4.String()+":9000",
		"-size", strconv.Itoa(size), "-pps", strconv.Itoa(pps), "-t", udpTime.String(), "-flows", "4")
	time.Sleep(300 * time.Millisecond)
	recv.Stop()
	if err != nil {
		return udpResult{}, err
	}
	var s, rc genResult
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return udpResult{}, fmt.Errorf("udpgen send: %v: %q", err, out)
	}
	ro := recv.Output()
	if i := strings.LastIndex(ro, "{"); i >= 0 {
		ro = ro[i:]
	}
	if err := json.Unmarshal([]byte(ro), &rc); err != nil {
		return udpResult{}, fmt.Errorf("udpgen recv: %v: %q", err, recv.Output())
	}
	u := udpResult{offered: float64(s.Packets) / s.Seconds}
	// Delivered rate over the sender's duration (the receiver drains within it).
	u.delivered = float64(rc.Packets) / s.Seconds
	u.mbps = float64(rc.Bytes) * 8 / s.Seconds / 1e6
	if s.Packets > 0 {
		u.loss = 1 - float64(rc.Packets)/float64(s.Packets)
	}
	return u, nil
}

// udpSteps steps the offered load up to unlimited and returns the step that
// delivered most.
func (b *bench) udpSteps(size int) (udpResult, error) {
	steps := []int{50000, 100000, 200000, 400000, 0}
	if *quick {
		steps = []int{0}
	}
	var best udpResult
	for _, pps := range steps {
		u, err := b.udpOnce(size, pps)
		if err != nil {
			return best, err
		}
		if *verbose {
			log.Printf("  udp %dB offered %.0f pps: delivered %.0f pps %.0f Mbit/s loss %.1f%%",
				size, u.offered, u.delivered, u.mbps, 100*u.loss)
		}
		if u.delivered > best.delivered {
			best = u
		}
		if pps != 0 && u.loss > 0.2 {
			break // saturated well before this step
		}
	}
	return best, nil
}

type iperfJSON struct {
	End struct {
		SumSent struct {
			Retransmits int `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			Bytes         int64   `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// tunDrops returns the TUN transmit drops (packets the kernel could not
// queue toward lispd) summed over both xTRs, -1 when there is no TUN or the
// counter cannot be read.
func (b *bench) tunDrops(lispd bool) int64 {
	if !lispd {
		return -1
	}
	var sum int64
	for _, h := range []*netns.Host{b.l.XTR1, b.l.XTR2} {
		out, err := h.Output(context.Background(), "cat", "/sys/class/net/"+(lab.XTRConfig{}).TUNName()+"/statistics/tx_dropped")
		if err != nil {
			return -1
		}
		n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			return -1
		}
		sum += n
	}
	return sum
}

// iperf runs one iperf3 TCP test A → B.
func (b *bench) iperf() (bytes int64, bps float64, retr int, err error) {
	l := b.l
	srv, err := l.B.Start("iperf3", "-s", "-1", "-B", lab.HostB4.String())
	if err != nil {
		return 0, 0, 0, err
	}
	defer srv.Stop()
	for i := 0; i < 100 && !strings.Contains(srv.Output(), "listening"); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *tcpTime+30*time.Second)
	defer cancel()
	args := append([]string{"iperf3", "-c", lab.HostB4.String(), "-t",
		strconv.Itoa(int(tcpTime.Seconds())), "-J"}, strings.Fields(*iperfArgs)...)
	out, err := l.A.Output(ctx, args...)
	var j iperfJSON
	if jerr := json.Unmarshal([]byte(out), &j); jerr != nil {
		return 0, 0, 0, fmt.Errorf("iperf3: %v (%v)", err, jerr)
	}
	if j.Error != "" {
		return 0, 0, 0, fmt.Errorf("iperf3: %s", j.Error)
	}
	return j.End.SumReceived.Bytes, j.End.SumReceived.BitsPerSecond, j.End.SumSent.Retransmits, nil
}

// column letters of the paths, in the order of -paths' default.
var letters = map[string]string{"plain": "a", "vxlan": "b", "lispd": "c", "lispd-off": "d", "kpath": "e", "kpath-xdp": "f", "lispd-kernel": "g", "kpath-gro": "h"}

// ratioPairs are the ratio columns printed when both paths were measured:
// lispd (offloads) and lispd-off (plain TUN path) against plain routing
// and the kernel's VXLAN, and the offload path against the plain TUN path.
var ratioPairs = [][2]string{{"lispd", "plain"}, {"lispd", "vxlan"}, {"lispd-off", "vxlan"}, {"lispd", "lispd-off"}, {"kpath", "vxlan"}, {"kpath", "lispd"}, {"kpath-xdp", "vxlan"}, {"kpath-gro", "vxlan"}, {"lispd-kernel", "vxlan"}, {"lispd-kernel", "kpath"}}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(names []string, rs map[string][]*result, sizes []int) {
	fmt.Println()
	fmt.Printf("lispd bench — %s, %d CPUs, kernel %s, %s\n", cpuModel(), runtime.NumCPU(), kernel(), time.Now().UTC().Format(time.RFC3339))
	fmt.Println("core: veth, TSO/GSO/USO off both ends, GRO on at the xTRs; lispd with static mappings, IPv4 EIDs and RLOCs")
	fmt.Println("(c) lispd: tun_offload = \"auto\" (TUN offloads, UDP GSO/GRO); (d) lispd-off: tun_offload = \"off\" (plain TUN path)")
	if len(rs["kpath"]) > 0 {
		fmt.Println("(e) kpath: fwd/kpath's tc eBPF programs (testing/cmd/kpathxtr), same mappings, no daemon in the data path")
	}
	if len(rs["kpath-xdp"]) > 0 {
		fmt.Println("(f) kpath-xdp: (e) decapsulating at XDP instead (inner packets GRO-merged, entering on the uplink)")
	}
	if len(rs["lispd-kernel"]) > 0 {
		fmt.Println("(g) lispd-kernel: lispd with kernel_path = \"auto\" (its map-cache mirrored into fwd/kpath's programs; decap at XDP and TC)")
	}
	if len(rs["kpath-gro"]) > 0 {
		fmt.Println("(h) kpath-gro: (e) decapsulating at XDP and TC as lispd does (GRO-merged, moved into the TUN)")
	}
	if *quick {
		fmt.Println("(-quick: short runs, unlimited UDP load only)")
	}
	if *runs > 1 {
		fmt.Printf("(%d runs, paths interleaved: cells are medians, ratios the medians of per-run ratios)\n", *runs)
	}
	fmt.Println()
	var pairs [][2]string
	for _, pr := range ratioPairs {
		if len(rs[pr[0]]) > 0 && len(rs[pr[1]]) > 0 {
			pairs = append(pairs, pr)
		}
	}
	fmt.Printf("%-30s", "")
	for _, n := range names {
		fmt.Printf(" %13s", "("+letters[n]+") "+n)
	}
	for _, pr := range pairs {
		fmt.Printf(" %8s", letters[pr[0]]+"/"+letters[pr[1]])
	}
	fmt.Println()
	row := func(name string, f func(r *result) (float64, bool)) {
		fmt.Printf("%-30s", name)
		for _, n := range names {
			var v []float64
			for _, r := range rs[n] {
				if x, ok := f(r); r.ok && ok {
					v = append(v, x)
				}
			}
			cell := "—"
			if len(v) > 0 {
				cell = num(median(v))
			}
			fmt.Printf(" %13s", cell)
		}
		for _, pr := range pairs {
			if strings.Contains(name, "loss") {
				fmt.Printf(" %8s", "—") // a ratio of loss rates says nothing
				continue
			}
			var v []float64
			xs, ys := rs[pr[0]], rs[pr[1]]
			for i := 0; i < len(xs) && i < len(ys); i++ {
				x, ok1 := f(xs[i])
				y, ok2 := f(ys[i])
				if xs[i].ok && ys[i].ok && ok1 && ok2 && y != 0 {
					v = append(v, x/y)
				}
			}
			cell := "—"
			if len(v) > 0 {
				cell = fmt.Sprintf("%.2f×", median(v))
			}
			fmt.Printf(" %8s", cell)
		}
		fmt.Println()
	}
	row("TCP iperf3 Gbit/s", func(r *result) (float64, bool) { return r.tcpBps / 1e9, true })
	row("TCP retransmits", func(r *result) (float64, bool) { return float64(r.tcpRetr), true })
	for _, s := range sizes {
		row(fmt.Sprintf("UDP %dB kpps delivered", s), func(r *result) (float64, bool) { u, ok := r.udp[s]; return u.delivered / 1e3, ok })
		row(fmt.Sprintf("UDP %dB Mbit/s delivered", s), func(r *result) (float64, bool) { u, ok := r.udp[s]; return u.mbps, ok })
		row(fmt.Sprintf("UDP %dB loss at best step %%", s), func(r *result) (float64, bool) { u, ok := r.udp[s]; return 100 * u.loss, ok })
	}
	if !*tcpOnly {
		row("RTT median idle µs", func(r *result) (float64, bool) { return us(r.rttIdle), r.rttIdle > 0 })
		row("RTT median, half load µs", func(r *result) (float64, bool) { return us(r.rttLoaded), r.rttLoaded > 0 })
	}
	isLispd := func(r *result) bool { return strings.HasPrefix(r.name, "lispd") }
	row("machine CPU idle during TCP %", func(r *result) (float64, bool) { return 100 * r.idle, true })
	row("machine CPU in softirq, TCP %", func(r *result) (float64, bool) { return 100 * r.softirq, true })
	row("machine busy CPU s/GB (TCP)", func(r *result) (float64, bool) { return r.busyPerGB, r.busyPerGB > 0 })
	row("TUN queue drops during TCP", func(r *result) (float64, bool) {
		return float64(r.tunDrops), (isLispd(r) || strings.HasPrefix(r.name, "kpath")) && r.tunDrops >= 0
	})
	row("CPU s/GB (TCP), xTR1 encap", func(r *result) (float64, bool) { return r.cpuEncap, isLispd(r) })
	row("CPU s/GB (TCP), xTR2 decap", func(r *result) (float64, bool) { return r.cpuDecap, isLispd(r) })
	row("CPU s/GB (TCP), both xTRs", func(r *result) (float64, bool) { return r.cpuPerGB, isLispd(r) })
	row("peak RSS MB (largest xTR)", func(r *result) (float64, bool) { return r.rssKB / 1024, isLispd(r) && r.rssKB > 0 })
	for _, n := range names {
		for i, r := range rs[n] {
			if !r.ok {
				fmt.Printf("\n(%s) run %d not measured: %s\n", n, i+1, r.note)
			}
		}
	}
}

// num formats a measurement: whole numbers from 1000 up, else 4 digits.
func num(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
