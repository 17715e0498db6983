package sha

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"math/rand/v2"
	"strings"
	"testing"
)

func hexOf(h hash.Hash, msg string) string {
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// FIPS 180-4 example vectors and RFC 4231 / RFC 2202 HMAC vectors.
func TestVectors(t *testing.T) {
	long := strings.Repeat("a", 1000000)
	for _, tc := range []struct {
		name string
		h    hash.Hash
		msg  string
		want string
	}{
		{"sha1 empty", NewSHA1(), "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"sha1 abc", NewSHA1(), "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"sha1 448 bits", NewSHA1(), "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
		{"sha1 million a", NewSHA1(), long, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
		{"sha256 empty", NewSHA256(), "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"sha256 abc", NewSHA256(), "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"sha256 448 bits", NewSHA256(), "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"sha256 million a", NewSHA256(), long, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
		{"hmac-sha256 rfc4231 case 2", NewHMAC(NewSHA256, []byte("Jefe")), "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"hmac-sha1 rfc2202 case 2", NewHMAC(NewSHA1, []byte("Jefe")), "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"hmac-sha256 rfc4231 case 6 (long key)", NewHMAC(NewSHA256, []byte(strings.Repeat("\xaa", 131))), "Test Using Larger Than Block-Size Key - Hash Key First", "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	} {
		if got := hexOf(tc.h, tc.msg); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// Every length around the block and padding boundaries, written in random
// pieces, matches crypto/*; Sum does not disturb further writes; Reset
// starts over.
func TestAgainstCrypto(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		key := make([]byte, rng.IntN(200))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		for _, tc := range []struct {
			name      string
			got, want hash.Hash
		}{
			{"sha1", NewSHA1(), sha1.New()},
			{"sha256", NewSHA256(), sha256.New()},
			{"hmac-sha1", NewHMAC(NewSHA1, key), hmac.New(sha1.New, key)},
			{"hmac-sha256", NewHMAC(NewSHA256, key), hmac.New(sha256.New, key)},
		} {
			for i := 0; i < len(msg); {
				j := min(len(msg), i+rng.IntN(70)+1)
				tc.got.Write(msg[i:j])
				if j == len(msg)/2 {
					tc.got.Sum(nil) // mid-stream Sum must not change the state
				}
				i = j
			}
			tc.want.Write(msg)
			if g, w := tc.got.Sum([]byte("prefix")), tc.want.Sum([]byte("prefix")); string(g) != string(w) {
				t.Fatalf("%s of %d bytes: %x, want %x", tc.name, n, g, w)
			}
			tc.got.Reset()
			tc.got.Write(msg)
			tc.want.Reset()
			tc.want.Write(msg)
			if g, w := tc.got.Sum(nil), tc.want.Sum(nil); string(g) != string(w) || tc.got.Size() != tc.want.Size() || tc.got.BlockSize() != tc.want.BlockSize() {
				t.Fatalf("%s of %d bytes after Reset: %x, want %x", tc.name, n, g, w)
			}
		}
	}
}

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"", "", true}, {"abc", "abc", true}, {"abc", "abd", false}, {"abc", "ab", false}, {"\x00", "\x80", false}} {
		if got := Equal([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("Equal(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

func BenchmarkHMACSHA256(b *testing.B) {
	msg := make([]byte, 100)
	key := []byte("a shared key")
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		h := NewHMAC(NewSHA256, key)
		h.Write(msg)
		h.Sum(nil)
	}
}
