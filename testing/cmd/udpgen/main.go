// Command udpgen is the bench harness's UDP load generator and sink.
//
//	udpgen send -to ADDR:PORT -size BYTES -pps RATE -t DURATION -flows N
//	udpgen recv -listen ADDR:PORT
//
// send writes IP packets of -size bytes (UDP payload = size − 28 for IPv4,
// − 48 for IPv6) in batches with sendmmsg (x/net WriteBatch), paced to
// -pps (0 = as fast as possible), round-robin over -flows sockets (distinct
// source ports), and prints {"packets":N,"bytes":B,"seconds":S} as JSON.
// recv counts datagrams until SIGTERM/SIGINT, then prints the same JSON
// (bytes counted as IP packet bytes).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

// Result is what both modes print.
type Result struct {
	Packets int64   `json:"packets"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: udpgen send|recv [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "send":
		err = send(os.Args[2:])
	case "recv":
		err = recv(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "udpgen:", err)
		os.Exit(1)
	}
}

func overhead(a *net.UDPAddr) int {
	if a.IP.To4() != nil {
		return 28
	}
	return 48
}

func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	to := fs.String("to", "", "destination ADDR:PORT")
	size := fs.Int("size", 512, "IP packet size in bytes")
	pps := fs.Int("pps", 0, "packets per second (0 = unlimited)")
	dur := fs.Duration("t", 3*time.Second, "duration")
	flows := fs.Int("flows", 4, "number of flows (source ports)")
	batch := fs.Int("batch", 32, "packets per sendmmsg")
	fs.Parse(args)
	dst, err := net.ResolveUDPAddr("udp", *to)
	if err != nil {
		return err
	}
	payload := *size - overhead(dst)
	if payload < 8 {
		return fmt.Errorf("size %d too small", *size)
	}
	var conns []*ipv4.PacketConn // ipv4.PacketConn's batch I/O works for IPv6 sockets too
	for i := 0; i < *flows; i++ {
		c, err := net.DialUDP("udp", nil, dst)
		if err != nil {
			return err
		}
		c.SetWriteBuffer(4 << 20)
		defer c.Close()
		conns = append(conns, ipv4.NewPacketConn(c))
	}
	buf := make([]byte, payload)
	msgs := make([]ipv4.Message, *batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{buf}
	}
	var sent int64
	start := time.Now()
	end := start.Add(*dur)
	for n := 0; ; n++ {
		now := time.Now()
		if now.After(end) {
			break
		}
		if *pps > 0 {
			due := start.Add(time.Duration(float64(sent) / float64(*pps) * float64(time.Second)))
			if d := due.Sub(now); d > 0 {
				time.Sleep(d)
			}
		}
		k, err := conns[n%len(conns)].WriteBatch(msgs, 0)
		if err != nil {
			if ne, ok := err.(*net.OpError); ok && (isErr(ne, syscall.ENOBUFS) || isErr(ne, syscall.EAGAIN) || isErr(ne, syscall.ECONNREFUSED)) {
				continue
			}
			return err
		}
		sent += int64(k)
	}
	return emit(Result{Packets: sent, Bytes: sent * int64(*size), Seconds: time.Since(start).Seconds()})
}

func isErr(e *net.OpError, errno syscall.Errno) bool {
	se, ok := e.Err.(*os.SyscallError)
	return ok && se.Err == errno
}

func recv(args []string) error {
	fs := flag.NewFlagSet("recv", flag.ExitOnError)
	listen := fs.String("listen", ":9000", "ADDR:PORT to listen on")
	fs.Parse(args)
	la, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		return err
	}
	c.SetReadBuffer(16 << 20)
	oh := int64(overhead(la))
	if la.IP == nil {
		oh = 28
	}
	pc := ipv4.NewPacketConn(c)
	var pkts, bytes atomic.Int64
	var first, last atomic.Int64
	go func() {
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		for {
			n, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			var b int64
			for i := 0; i < n; i++ {
				b += int64(msgs[i].N) + oh
			}
			now := time.Now().UnixNano()
			first.CompareAndSwap(0, now)
			last.Store(now)
			pkts.Add(int64(n))
			bytes.Add(b)
		}
	}()
	fmt.Fprintln(os.Stderr, "udpgen: listening on", c.LocalAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
	return emit(Result{Packets: pkts.Load(), Bytes: bytes.Load(),
		Seconds: float64(last.Load()-first.Load()) / 1e9})
}

func emit(r Result) error {
	return json.NewEncoder(os.Stdout).Encode(r)
}
