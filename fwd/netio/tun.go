package netio

// TUN is a layer-3 tunnel device seen as batches of IP packets.
//
// The interface is batch-shaped so that a device with segmentation offloads
// (IFF_VNET_HDR, TSO/USO: one read may yield many packets split from one
// super-packet) can replace the plain device without changing its callers.
// Packets live at an offset inside the caller's buffers, which leaves
// headroom in front of each packet for the tunnel headers written in place
// (and, for an offload device, the virtio-net header).
type TUN interface {
	// Read blocks until at least one packet is available, then reads as many
	// packets as are immediately available, up to len(bufs). Packet i is
	// placed at bufs[i][offset:] and its length stored in sizes[i]; n is the
	// number of packets read. len(sizes) must be at least len(bufs).
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes each bufs[i][offset:] as one packet and returns the
	// number of packets written. A packet the kernel refuses is skipped and
	// the first such error is returned after the others were written.
	Write(bufs [][]byte, offset int) (int, error)
	// MTU returns the device's MTU as configured at open.
	MTU() int
	// Name returns the interface name the kernel gave the device.
	Name() string
	// Close closes the device; the kernel removes the interface and its
	// routes. A Read blocked in the poller returns an error.
	Close() error
}

// TUNConfig says how OpenTUNConfig creates a TUN device.
type TUNConfig struct {
	// Name of the interface; empty lets the kernel pick (tun0, tun1, ...).
	Name string
	// MTU of the interface; 0 keeps the kernel's default (1500).
	MTU int
	// TxQueueLen is the device queue length toward the reader; 0 means
	// DefaultTxQueueLen. The kernel default of 500 drops packets under a
	// TCP burst before the reader catches up.
	TxQueueLen int
}

// DefaultTxQueueLen is the TUN transmit queue length OpenTUN sets: long
// enough to hold a TCP burst while the reader goroutine is being scheduled
// (a prototype dropped ~50k packets per benchmark run at the default 500).
const DefaultTxQueueLen = 5000
