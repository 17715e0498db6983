package admin

import (
	"fmt"
	"os"

	"github.com/lispd/lispd/internal/sock"
)

// checkPeer refuses a client that is neither root nor the daemon's own
// user. The socket's mode 0600 already keeps others out; this also covers
// the instant between bind and chmod.
func checkPeer(c *sock.UnixConn) error {
	cred, err := c.PeerCred()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("permission denied: uid %d may not use the control socket", cred.Uid)
	}
	return nil
}
