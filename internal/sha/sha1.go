package sha

import (
	"encoding/binary"
	"hash"
	"math/bits"
)

// SHA1Size is the length of a SHA-1 digest.
const SHA1Size = 20

// BlockSize is the block length of SHA-1 and SHA-256.
const BlockSize = 64

// sha1d is a SHA-1 digest in progress.
type sha1d struct {
	h   [5]uint32
	x   [BlockSize]byte
	nx  int
	len uint64
}

// NewSHA1 returns a new SHA-1 hash.
func NewSHA1() hash.Hash {
	d := new(sha1d)
	d.Reset()
	return d
}

func (d *sha1d) Reset() {
	d.h = [5]uint32{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}
	d.nx, d.len = 0, 0
}

func (d *sha1d) Size() int      { return SHA1Size }
func (d *sha1d) BlockSize() int { return BlockSize }

func (d *sha1d) Write(p []byte) (int, error) {
	n := len(p)
	d.len += uint64(n)
	d.nx, p = fill(&d.x, d.nx, p, d.block)
	for len(p) >= BlockSize {
		d.block(p[:BlockSize])
		p = p[BlockSize:]
	}
	d.nx += copy(d.x[:], p)
	return n, nil
}

func (d *sha1d) Sum(in []byte) []byte {
	c := *d
	c.pad()
	for _, v := range c.h {
		in = binary.BigEndian.AppendUint32(in, v)
	}
	return in
}

func (d *sha1d) pad() {
	padTo(d, d.len)
}

func (d *sha1d) block(p []byte) {
	var w [16]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	a, b, c, dd, e := d.h[0], d.h[1], d.h[2], d.h[3], d.h[4]
	for i := range 80 {
		if i >= 16 {
			t := w[(i-3)&15] ^ w[(i-8)&15] ^ w[(i-14)&15] ^ w[i&15]
			w[i&15] = bits.RotateLeft32(t, 1)
		}
		var f, k uint32
		switch {
		case i < 20:
			f, k = b&c|^b&dd, 0x5A827999
		case i < 40:
			f, k = b^c^dd, 0x6ED9EBA1
		case i < 60:
			f, k = b&c|b&dd|c&dd, 0x8F1BBCDC
		default:
			f, k = b^c^dd, 0xCA62C1D6
		}
		t := bits.RotateLeft32(a, 5) + f + e + w[i&15] + k
		a, b, c, dd, e = t, a, bits.RotateLeft32(b, 30), c, dd
	}
	d.h[0] += a
	d.h[1] += b
	d.h[2] += c
	d.h[3] += dd
	d.h[4] += e
}

// blockWriter is a digest that padTo can finish.
type blockWriter interface {
	Write([]byte) (int, error)
}

// padTo writes the FIPS 180-4 padding for a message of n bytes: 0x80,
// zeros up to 56 mod 64, then the length in bits.
func padTo(w blockWriter, n uint64) {
	var tmp [BlockSize + 8]byte
	tmp[0] = 0x80
	k := 56 - int(n%BlockSize)
	if k <= 0 {
		k += BlockSize
	}
	binary.BigEndian.PutUint64(tmp[k:], n<<3)
	w.Write(tmp[:k+8])
}

// fill tops the partial block x (nx bytes) up from p, running block when
// it is full; it returns the new fill and the rest of p.
func fill(x *[BlockSize]byte, nx int, p []byte, block func([]byte)) (int, []byte) {
	if nx == 0 {
		return 0, p
	}
	n := copy(x[nx:], p)
	nx += n
	if nx == BlockSize {
		block(x[:])
		nx = 0
	}
	return nx, p[n:]
}
