// Package tshark helps tests judge packet bytes with an independent decoder:
// it writes and reads classic pcap files, builds IPv4/IPv6 + UDP frames with
// correct checksums around a payload, and runs Wireshark's tshark over a
// capture the way ../shared/vectors/check_pcap.sh does.
//
// It is test support only: nothing in the lispd binary imports it.
package tshark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LinkType is a pcap link-layer header type (LINKTYPE_* from tcpdump.org).
type LinkType uint32

// Link types this package writes and reads.
const (
	// LinkTypeEthernet frames start with a 14-byte Ethernet II header.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw frames start directly with an IPv4 or IPv6 header.
	LinkTypeRaw LinkType = 101
)

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapSnapLen    = 262144
	maxRecordLen   = 1 << 24 // refuse absurd record lengths when reading
)

// Writer writes a classic (libpcap 2.4, microsecond) capture file.
type Writer struct {
	w    io.Writer
	link LinkType
	hdr  [16]byte
}

// NewWriter writes the pcap global header for link type link to w and
// returns a Writer for the packet records.
func NewWriter(w io.Writer, link LinkType) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicMicro)
	binary.LittleEndian.PutUint16(h[4:], 2) // version major
	binary.LittleEndian.PutUint16(h[6:], 4) // version minor
	// thiszone and sigfigs stay 0.
	binary.LittleEndian.PutUint32(h[16:], pcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], uint32(link))
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: write global header: %w", err)
	}
	return &Writer{w: w, link: link}, nil
}

// LinkType reports the link type the Writer was created with.
func (pw *Writer) LinkType() LinkType { return pw.link }

// WritePacket appends one record holding data, captured in full at time ts.
func (pw *Writer) WritePacket(ts time.Time, data []byte) error {
	if len(data) > pcapSnapLen {
		return fmt.Errorf("pcap: packet of %d bytes exceeds snap length %d", len(data), pcapSnapLen)
	}
	binary.LittleEndian.PutUint32(pw.hdr[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(pw.hdr[4:], uint32(ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(pw.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(pw.hdr[12:], uint32(len(data)))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return fmt.Errorf("pcap: write record header: %w", err)
	}
	if _, err := pw.w.Write(data); err != nil {
		return fmt.Errorf("pcap: write record data: %w", err)
	}
	return nil
}

// WriteFile writes frames as a capture file at path, one record per frame,
// with timestamps one millisecond apart.
func WriteFile(path string, link LinkType, frames [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	pw, err := NewWriter(f, link)
	if err != nil {
		f.Close()
		return err
	}
	ts := time.Unix(1700000000, 0)
	for i, fr := range frames {
		if err := pw.WritePacket(ts.Add(time.Duration(i)*time.Millisecond), fr); err != nil {
			f.Close()
			return fmt.Errorf("frame %d: %w", i+1, err)
		}
	}
	return f.Close()
}

// Packet is one record read from a capture.
type Packet struct {
	Time    time.Time
	Data    []byte // the captured bytes
	OrigLen int    // the length of the packet on the wire
}

// Reader reads a classic pcap file in either byte order, with microsecond or
// nanosecond timestamps. (pcapng is not supported.)
type Reader struct {
	r     io.Reader
	order binary.ByteOrder
	nano  bool
	link  LinkType
}

// NewReader reads the pcap global header from r.
func NewReader(r io.Reader) (*Reader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("pcap: read global header: %w", err)
	}
	pr := &Reader{r: r}
	switch {
	case binary.LittleEndian.Uint32(h[0:]) == pcapMagicMicro:
		pr.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[0:]) == pcapMagicMicro:
		pr.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[0:]) == pcapMagicNano:
		pr.order, pr.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[0:]) == pcapMagicNano:
		pr.order, pr.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: bad magic %#08x (not a classic pcap file)", binary.BigEndian.Uint32(h[0:]))
	}
	pr.link = LinkType(pr.order.Uint32(h[20:]) & 0x0fffffff)
	return pr, nil
}

// LinkType reports the capture's link-layer header type.
func (pr *Reader) LinkType() LinkType { return pr.link }

// Next returns the next record, or io.EOF after the last one.
func (pr *Reader) Next() (Packet, error) {
	var h [16]byte
	if _, err := io.ReadFull(pr.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Packet{}, io.EOF
		}
		return Packet{}, fmt.Errorf("pcap: read record header: %w", err)
	}
	sec := int64(pr.order.Uint32(h[0:]))
	frac := int64(pr.order.Uint32(h[4:]))
	if !pr.nano {
		frac *= 1000
	}
	capLen := pr.order.Uint32(h[8:])
	if capLen > maxRecordLen {
		return Packet{}, fmt.Errorf("pcap: record length %d too large", capLen)
	}
	data := make([]byte, capLen)
	if _, err := io.ReadFull(pr.r, data); err != nil {
		return Packet{}, fmt.Errorf("pcap: read record data: %w", err)
	}
	return Packet{Time: time.Unix(sec, frac), Data: data, OrigLen: int(pr.order.Uint32(h[12:]))}, nil
}

// ReadFile reads every record of the capture at path.
func ReadFile(path string) (LinkType, []Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	pr, err := NewReader(f)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	var pkts []Packet
	for {
		p, err := pr.Next()
		if err == io.EOF {
			return pr.link, pkts, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%s: record %d: %w", path, len(pkts)+1, err)
		}
		pkts = append(pkts, p)
	}
}
