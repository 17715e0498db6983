package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lispd/lispd/ctl/admin"
	"github.com/lispd/lispd/testing/lab"
)

// TestControlReloadDeregisters: an EID prefix removed from an xTR's
// configuration is withdrawn from the Map-Server at the reload (a
// Map-Register with record TTL 0), not left registered until the Map-Server's
// registration timeout, while the prefix that stays stays registered.
func TestControlReloadDeregisters(t *testing.T) {
	s := startControl(t, ctlOptions{ms: lab.MapServerConfig{RegistrationTimeout: "5m"}})
	waitRegistered(t, s.X1, s.X2)
	prefixes := func() ([]string, error) {
		var r admin.Registrations
		if err := tryShow(s.MS, &r, "registrations"); err != nil {
			return nil, err
		}
		var out []string
		for _, reg := range site(t, &r, "site1").Registrations {
			out = append(out, reg.EID.String())
		}
		return out, nil
	}
	eventually(t, 10*time.Second, "site1 registers both prefixes", func() error {
		p, err := prefixes()
		if err != nil || len(p) != 2 {
			return fmt.Errorf("site1 prefixes %v (%v)", p, err)
		}
		return nil
	})

	path := s.Dir + "/xtr1.toml"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v6 := lab.Site1v6.String()
	text := strings.Replace(string(old), fmt.Sprintf(", %q", v6), "", 1)
	if text == string(old) {
		t.Fatalf("premise: %s not found in xtr1's eid_prefixes:\n%s", v6, old)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := s.X1.Reload(t.Context()); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	took := eventually(t, 5*time.Second, "the removed prefix is withdrawn", func() error {
		p, err := prefixes()
		if err != nil || len(p) != 1 || p[0] != lab.Site1v4.String() {
			return fmt.Errorf("site1 prefixes %v (%v)", p, err)
		}
		return nil
	})
	t.Logf("withdrawn %v after the reload (registration timeout 5m)", took.Round(time.Millisecond))
}
