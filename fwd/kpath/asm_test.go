package kpath

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func hexb(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestEncoding checks single instructions against bytes worked out by hand
// from the kernel's struct bpf_insn and opcode tables (little-endian host
// layout, and the big-endian one where the register nibbles swap).
func TestEncoding(t *testing.T) {
	tests := []struct {
		name   string
		in     Insn
		le, be string
	}{
		{"mov64 r0, 0", Mov64Imm(R0, 0), "b7 00 0000 00000000", "b7 00 0000 00000000"},
		{"mov64 r0, -1", Mov64Imm(R0, -1), "b7 00 0000 ffffffff", "b7 00 0000 ffffffff"},
		{"exit", Return(), "95 00 0000 00000000", "95 00 0000 00000000"},
		{"mov64 r6, r1", Mov64Reg(R6, R1), "bf 16 0000 00000000", "bf 61 0000 00000000"},
		{"mov32 r2, 7", Mov32Imm(R2, 7), "b4 02 0000 07000000", "b4 20 0000 00000007"},
		{"ldxw r2, [r6+76]", LoadMem(W, R2, R6, 76), "61 62 4c00 00000000", "61 26 004c 00000000"},
		{"ldxb r3, [r7+9]", LoadMem(B, R3, R7, 9), "71 73 0900 00000000", "71 37 0009 00000000"},
		{"ldxdw r1, [r9+24]", LoadMem(DW, R1, R9, 24), "79 91 1800 00000000", "79 19 0018 00000000"},
		{"stw [r10-8], 32", StoreImm(W, R10, -8, 32), "62 0a f8ff 20000000", "62 a0 fff8 00000020"},
		{"stxh [r7+12], r2", StoreMem(H, R7, 12, R2), "6b 27 0c00 00000000", "6b 72 000c 00000000"},
		{"stxdw [r10-16], r1", StoreMem(DW, R10, -16, R1), "7b 1a f0ff 00000000", "7b a1 fff0 00000000"},
		{"lock add dw [r0+24], r1", AtomicAdd(DW, R0, 24, R1), "db 10 1800 00000000", "db 01 0018 00000000"},
		{"lock add w [r0+4], r2", AtomicAdd(W, R0, 4, R2), "c3 20 0400 00000000", "c3 02 0004 00000000"},
		{"call 1", CallHelper(FnMapLookupElem), "85 00 0000 01000000", "85 00 0000 00000001"},
		{"call 152", CallHelper(FnRedirectNeigh), "85 00 0000 98000000", "85 00 0000 00000098"},
		{"be16 r2", HostToBE(R2, 16), "dc 02 0000 10000000", "dc 20 0000 00000010"},
		{"add64 r2, -8", ALU64Imm(Add, R2, -8), "07 02 0000 f8ffffff", "07 20 0000 fffffff8"},
		{"and32 r3, 0x3fff", ALU32Imm(And, R3, 0x3fff), "54 03 0000 ff3f0000", "54 30 0000 00003fff"},
		{"rsh64 r0, 7", ALU64Imm(Rsh, R0, 7), "77 00 0000 07000000", "77 00 0000 00000007"},
		{"add64 r2, r3", ALU64Reg(Add, R2, R3), "0f 32 0000 00000000", "0f 23 0000 00000000"},
		{"lddw r1, map fd 5", LoadMapFD(R1, 5), "18 11 0000 05000000 00 00 0000 00000000", "18 11 0000 00000005 00 00 0000 00000000"},
		{"lddw r1, 0x1122334455667788", LoadImm64(R1, 0x1122334455667788),
			"18 01 0000 88776655 00 00 0000 44332211", "18 10 0000 55667788 00 00 0000 11223344"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				big  bool
				want string
			}{{false, tt.le}, {true, tt.be}} {
				got, err := tt.in.appendEncoded(nil, c.big)
				if err != nil {
					t.Fatal(err)
				}
				if want := hexb(c.want); !bytes.Equal(got, want) {
					t.Errorf("big-endian=%v: got % x, want % x", c.big, got, want)
				}
			}
		})
	}
}

// TestAssembleLabels checks that jumps get the offsets the kernel counts:
// slots between the jump's successor and the target, with two slots for a
// 64-bit immediate load, forward and backward.
func TestAssembleLabels(t *testing.T) {
	prog := []Insn{
		Label("top"),
		JumpImm(JEq, R1, 0, "out"),   // slot 0 → slot 5: off 4
		LoadImm64(R2, 1),             // slots 1-2
		Jump32Imm(JNE, R2, 5, "top"), // slot 3 → slot 0: off -4
		Goto("out"),                  // slot 4 → 5: off 0
		Label("out"),
		Return(), // slot 5
	}
	code, err := Assemble(prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 6*InsnSize {
		t.Fatalf("%d bytes, want %d", len(code), 6*InsnSize)
	}
	off := func(slot int) int16 {
		b := code[slot*InsnSize+2 : slot*InsnSize+4]
		if bigEndian {
			return int16(uint16(b[0])<<8 | uint16(b[1]))
		}
		return int16(uint16(b[1])<<8 | uint16(b[0]))
	}
	for _, c := range []struct {
		slot int
		want int16
	}{{0, 4}, {3, -4}, {4, 0}} {
		if got := off(c.slot); got != c.want {
			t.Errorf("slot %d: offset %d, want %d", c.slot, got, c.want)
		}
	}
}

func TestAssembleErrors(t *testing.T) {
	tests := []struct {
		name string
		prog []Insn
		want string
	}{
		{"undefined label", []Insn{Goto("nowhere"), Return()}, "undefined label"},
		{"duplicate label", []Insn{Label("a"), Label("a"), Return()}, "defined twice"},
		{"wide immediate", []Insn{{Op: ClassALU64 | uint8(Mov), Imm: 1 << 40}, Return()}, "does not fit"},
		{"bad register", []Insn{Mov64Reg(11, R1), Return()}, "register out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Assemble(tt.prog)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}
