package sha

import "hash"

// hmacd is an HMAC in progress (RFC 2104).
type hmacd struct {
	inner, outer hash.Hash
	ipad, opad   []byte
}

// NewHMAC returns an HMAC using the hash newHash makes (NewSHA1 or
// NewSHA256) and key; a key longer than the block is hashed first.
func NewHMAC(newHash func() hash.Hash, key []byte) hash.Hash {
	m := &hmacd{inner: newHash(), outer: newHash()}
	bs := m.inner.BlockSize()
	if len(key) > bs {
		m.outer.Write(key)
		key = m.outer.Sum(nil)
		m.outer.Reset()
	}
	m.ipad = make([]byte, bs)
	m.opad = make([]byte, bs)
	copy(m.ipad, key)
	copy(m.opad, key)
	for i := range m.ipad {
		m.ipad[i] ^= 0x36
		m.opad[i] ^= 0x5c
	}
	m.inner.Write(m.ipad)
	return m
}

func (m *hmacd) Size() int      { return m.inner.Size() }
func (m *hmacd) BlockSize() int { return m.inner.BlockSize() }

func (m *hmacd) Write(p []byte) (int, error) { return m.inner.Write(p) }

func (m *hmacd) Sum(in []byte) []byte {
	n := len(in)
	in = m.inner.Sum(in)
	m.outer.Reset()
	m.outer.Write(m.opad)
	m.outer.Write(in[n:])
	return m.outer.Sum(in[:n])
}

func (m *hmacd) Reset() {
	m.inner.Reset()
	m.inner.Write(m.ipad)
}

// Equal compares two MACs in time that depends only on their lengths.
func Equal(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range a {
		v |= a[i] ^ b[i]
	}
	return v == 0
}
