// Package entropy reads random bytes from the kernel (getrandom(2)) for
// nonces. It replaces crypto/rand in the binary, whose FIPS DRBG (AES,
// SHA-3, SHA-512) costs the router build tens of kilobytes for bytes the
// kernel hands out anyway.
package entropy

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Read fills b with random bytes from the kernel's CSPRNG, blocking only
// until the kernel's pool is initialised (early boot). On a kernel without
// getrandom (before 3.17) it reads /dev/urandom. It panics when neither
// works: a nonce must never silently be predictable.
func Read(b []byte) {
	if err := read(b); err != nil {
		panic(fmt.Sprintf("entropy: %v", err))
	}
}

func read(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ENOSYS):
			return readFile(b)
		case err != nil:
			return os.NewSyscallError("getrandom", err)
		}
		b = b[n:]
	}
	return nil
}

func readFile(b []byte) error {
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.ReadFull(f, b)
	return err
}
