package ctl

import (
	"net/netip"
	"sync"
)

// recordingTransport records where the node sends.
type recordingTransport struct {
	mu   sync.Mutex
	sent []sentMsg
}

type sentMsg struct {
	src netip.Addr
	dst netip.AddrPort
	b   []byte
}

func (r *recordingTransport) send(src netip.Addr, dst netip.AddrPort, b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sentMsg{src, dst, append([]byte(nil), b...)})
	return nil
}
func (r *recordingTransport) families() (bool, bool) { return true, true }

func (r *recordingTransport) take() []sentMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = nil
	return s
}

// portOnly is a DataPort that only has a port (its sends are discarded).
type portOnly uint16

func (p portOnly) SendFromDataPort(netip.Addr, netip.AddrPort, []byte) error { return nil }
func (p portOnly) Port() uint16                                              { return uint16(p) }
