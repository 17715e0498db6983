package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
	"github.com/lispd/lispd/testing/netns"
	"github.com/lispd/lispd/testing/tshark"
)

// Bounds of TestControlMapServerRestart.
const (
	// msDown is how long the Map-Server stays down: two register
	// intervals, so that both ETRs register into the void at least once.
	msDown = 2 * registerInterval
	// recoveryMargin is added to one register interval for the
	// registrations to come back (the ETRs retry after their register
	// retry, 2 s, capped at the interval).
	recoveryMargin = 3 * time.Second
	// maxLost is how many of the continuous pings may be lost across the
	// restart: the map-cache entries stay valid while the Map-Server is
	// down, so ideally none.
	maxLost = 2
)

var pingSummaryRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// TestControlMapServerRestart stops the Map-Server for two register
// intervals and starts it again while host A pings host B every 100 ms
// (both sites cached, both ways). The registrations must come back within
// one register interval (+ margin) of the restart, measured on the wire as
// the Map-Server's first Map-Notify to each xTR, and the pings must go on:
// at most maxLost lost.
func TestControlMapServerRestart(t *testing.T) {
	tshark.Require(t)
	var core *netns.Capture
	s := startControl(t, ctlOptions{before: func(l *lab.Lab) {
		core = capture(t, l.Core, lab.CoreBridgeName, controlPortFilter)
	}})
	waitRegistered(t, s.X1, s.X2)
	reachable(t, s.A, lab.HostB4, 10*time.Second)
	reachable(t, s.B, lab.HostA4, 10*time.Second)

	pinger, err := s.A.Start("ping", "-n", "-i", "0.1", "-W", "1", lab.HostB4.String())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // traffic before the stop

	if err := s.MS.Proc.Stop(); err != nil {
		t.Fatalf("stopping the Map-Server: %v", err)
	}
	stopped := time.Now()
	time.Sleep(msDown) // the outage itself
	restarted := time.Now()
	s.MS = startMapServer(t, s)
	t.Logf("Map-Server down %v, listening again %v after its start",
		restarted.Sub(stopped).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))

	// Wait for both sites to be back, as the Map-Server shows them (or,
	// while its control socket is not wired, as it logs them).
	within := registerInterval + recoveryMargin
	eventually(t, within+5*time.Second, "both sites registered again", func() error {
		missing, err := sitesMissing(s.MS)
		if err == nil && len(missing) > 0 {
			err = fmt.Errorf("not registered again: %v", missing)
		}
		return err
	})
	time.Sleep(time.Second) // traffic after the recovery

	if err := pinger.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-pinger.Done()
	out := pinger.Output()
	m := pingSummaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping output has no summary:\n%s", tail(out, 20))
	}
	sent, _ := strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	lost := sent - recv
	t.Logf("continuous ping A→B every 100 ms across the restart: %d sent, %d lost", sent, lost)
	if sent < int(msDown/(100*time.Millisecond)) {
		t.Errorf("only %d pings sent across a %v outage; the test proves nothing", sent, msDown)
	}
	if lost > maxLost {
		t.Errorf("%d of %d pings lost across the Map-Server restart (at most %d allowed): traffic between cached sites stopped:\n%s",
			lost, sent, maxLost, tail(out, 15))
	}

	// Registration recovery on the wire: the first Map-Notify the new
	// Map-Server sends each xTR (it answers only accepted Map-Registers).
	fs := frames(t, stop(t, core))
	for _, x := range []struct {
		name string
		rloc netip.Addr
	}{{"xtr1", s.RLOC1v4}, {"xtr2", s.RLOC2v4}} {
		var first time.Time
		notifies := 0
		for _, f := range fs {
			if !f.control(typeMapNotify, s.MSv4, x.rloc) {
				continue
			}
			notifies++
			if f.time.After(restarted) {
				first = f.time
				break
			}
		}
		if first.IsZero() {
			t.Errorf("%s: no Map-Notify from the restarted Map-Server (%d before it)", x.name, notifies)
			continue
		}
		rec := first.Sub(restarted)
		t.Logf("%s registered again %v after the Map-Server restarted", x.name, rec.Round(time.Millisecond))
		if rec > within {
			t.Errorf("%s registered again %v after the restart; want within one register interval + margin (%v)", x.name, rec, within)
		}
	}

	// And the restarted Map-Server lists both sites with live entries.
	var r admin.Registrations
	show(t, s.MS, &r, "registrations")
	for _, name := range []string{"site1", "site2"} {
		st := site(t, &r, name)
		if len(st.Registrations) != 2 {
			t.Errorf("%s: %d registrations after the restart, want 2: %+v", name, len(st.Registrations), st.Registrations)
		}
	}
}

// sitesMissing returns which of site1 and site2 have no registration on the
// Map-Server: from `show registrations --json`, or, while the control
// socket does not answer, from the Map-Server's log of new registrations.
func sitesMissing(ms *lab.Daemon) ([]string, error) {
	var r admin.Registrations
	err := tryShow(ms, &r, "registrations")
	var missing []string
	for _, name := range []string{"site1", "site2"} {
		switch {
		case err == nil:
			ok := false
			for _, st := range r.MapServer {
				ok = ok || st.Site == name && len(st.Registrations) > 0
			}
			if !ok {
				missing = append(missing, name)
			}
		case errors.Is(err, lab.ErrShowNotRunning):
			if !strings.Contains(ms.Proc.Output(), "registration site="+name) {
				missing = append(missing, name)
			}
		default:
			return nil, err
		}
	}
	return missing, nil
}
