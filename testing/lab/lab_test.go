package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/lispd/lispd/testing/netns"
)

// TestBuild builds each core kind and checks that the RLOCs reach each
// other (both families), that EIDs do not without a tunnel, and that they
// do with RoutePlain and with SetupVXLAN.
func TestBuild(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  Options
	}{
		{"Direct", Options{Core: CoreDirect, WireLike: true}},
		{"Router", Options{Core: CoreRouter, CoreMTU: 1400, TxChecksumOff: true}},
		{"Bridge", Options{Core: CoreBridge}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := Build(netns.New(t), c.opt)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ping := func(h *netns.Host, dst string) error {
				return h.Run(ctx, "ping", "-c", "1", "-W", "2", dst)
			}
			for _, dst := range []string{l.RLOC2v4.String(), l.RLOC2v6.String()} {
				if err := ping(l.XTR1, dst); err != nil {
					t.Errorf("RLOC to RLOC: %v", err)
				}
			}
			if c.opt.Core == CoreBridge {
				if err := ping(l.XTR1, l.MSv4.String()); err != nil {
					t.Errorf("xTR to Map-Server: %v", err)
				}
			}
			if err := ping(l.A, HostB4.String()); err == nil {
				t.Errorf("EID reachable without a tunnel")
			}
			undo, err := l.RoutePlain()
			if err != nil {
				t.Fatal(err)
			}
			for _, dst := range []string{HostB4.String(), HostB6.String()} {
				if err := ping(l.A, dst); err != nil {
					t.Errorf("plain routed: %v", err)
				}
			}
			if err := undo(); err != nil {
				t.Fatal(err)
			}
			if c.opt.Core == CoreBridge {
				return
			}
			undo, err = l.SetupVXLAN()
			if err != nil {
				t.Fatal(err)
			}
			defer undo()
			for _, dst := range []string{HostB4.String(), HostB6.String()} {
				if err := ping(l.A, dst); err != nil {
					t.Errorf("over VXLAN: %v", err)
				}
			}
		})
	}
}

// TestConfigsPassLispdCheck writes every configuration the lab produces and
// runs `lispd check` on each (skipped when lispd does not build).
func TestConfigsPassLispdCheck(t *testing.T) {
	l, err := Build(netns.New(t), Options{Core: CoreBridge})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := BuildLispd(t.TempDir())
	if err != nil {
		t.Skipf("lispd does not build yet: %v", err)
	}
	configs := map[string]string{"ms": l.MapServerTOML()}
	for _, side := range []int{1, 2} {
		for i, c := range []XTRConfig{
			{Side: side, Static: true},
			{Side: side, Static: true, RLOC6: true},
			{Side: side, MapServer: true},
			{Side: side, MapServer: true, Static: true, Extra: `register_interval = "5s"`},
		} {
			configs[fmt.Sprintf("xtr%d-%d", side, i)] = l.XTRTOML(c)
		}
	}
	for name, text := range configs {
		path, err := l.WriteConfig(name, text)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "check", "-c", path).CombinedOutput(); err != nil {
			b, _ := os.ReadFile(path)
			t.Errorf("lispd check %s: %v\n%s\nconfig:\n%s", name, err, out, b)
		}
	}
}
