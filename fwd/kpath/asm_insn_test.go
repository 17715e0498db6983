package kpath

import (
	"encoding/binary"
	"fmt"
)

// Reg is an eBPF register: R0 (return value), R1-R5 (arguments, clobbered by
// calls), R6-R9 (kept across calls), R10 (read-only frame pointer).
type Reg uint8

// Registers.
const (
	R0 Reg = iota
	R1
	R2
	R3
	R4
	R5
	R6
	R7
	R8
	R9
	R10
)

// Instruction classes (the low three bits of the opcode).
const (
	ClassLD    = 0x00
	ClassLDX   = 0x01
	ClassST    = 0x02
	ClassSTX   = 0x03
	ClassALU   = 0x04
	ClassJMP   = 0x05
	ClassJMP32 = 0x06
	ClassALU64 = 0x07
)

// Size is the width of a load or store.
type Size uint8

// Load and store sizes.
const (
	W  Size = 0x00 // 32 bits
	H  Size = 0x08 // 16 bits
	B  Size = 0x10 // 8 bits
	DW Size = 0x18 // 64 bits
)

// Bytes returns the width of s in bytes.
func (s Size) Bytes() int {
	switch s {
	case B:
		return 1
	case H:
		return 2
	case W:
		return 4
	}
	return 8
}

// Load/store modes.
const (
	ModeIMM    = 0x00
	ModeMEM    = 0x60
	ModeATOMIC = 0xc0
)

// Operand sources of ALU and jump instructions.
const (
	SrcK = 0x00 // the immediate
	SrcX = 0x08 // the source register
)

// ALUOp is an arithmetic operation.
type ALUOp uint8

// Arithmetic operations.
const (
	Add  ALUOp = 0x00
	Sub  ALUOp = 0x10
	Mul  ALUOp = 0x20
	Div  ALUOp = 0x30
	Or   ALUOp = 0x40
	And  ALUOp = 0x50
	Lsh  ALUOp = 0x60
	Rsh  ALUOp = 0x70
	Neg  ALUOp = 0x80
	Mod  ALUOp = 0x90
	Xor  ALUOp = 0xa0
	Mov  ALUOp = 0xb0
	Arsh ALUOp = 0xc0
	End  ALUOp = 0xd0 // byte swap; Imm is the width in bits
)

// Byte-swap directions of End (in the source bit).
const (
	ToLE = 0x00
	ToBE = 0x08
)

// JumpOp is a jump condition, a call or the exit.
type JumpOp uint8

// Jump operations.
const (
	Ja   JumpOp = 0x00
	JEq  JumpOp = 0x10
	JGT  JumpOp = 0x20 // unsigned
	JGE  JumpOp = 0x30 // unsigned
	JSet JumpOp = 0x40
	JNE  JumpOp = 0x50
	JSGT JumpOp = 0x60
	JSGE JumpOp = 0x70
	Call JumpOp = 0x80
	Exit JumpOp = 0x90
	JLT  JumpOp = 0xa0 // unsigned
	JLE  JumpOp = 0xb0 // unsigned
	JSLT JumpOp = 0xc0
	JSLE JumpOp = 0xd0
)

// Insn is one eBPF instruction as the assembler handles it. A 64-bit
// immediate load (LoadImm64, LoadMapFD) is one Insn that encodes into two
// slots. Target names the label a jump goes to; Assemble turns it into Off.
// An Insn with a non-empty Label is not an instruction: it marks the
// position of the next one.
type Insn struct {
	Op     uint8
	Dst    Reg
	Src    Reg
	Off    int16
	Imm    int64
	Target string
	Label  string
}

// IsLoadImm64 reports whether i is the two-slot 64-bit immediate load.
func (i Insn) IsLoadImm64() bool { return i.Op == ClassLD|ModeIMM|uint8(DW) }

// Slots returns the number of 8-byte slots i encodes into (0 for a label).
func (i Insn) Slots() int {
	switch {
	case i.Label != "":
		return 0
	case i.IsLoadImm64():
		return 2
	}
	return 1
}

// regs packs the register byte of struct bpf_insn (dst_reg:4, src_reg:4;
// the first bit-field takes the low nibble on little-endian hosts and the
// high one on big-endian hosts).
func regs(dst, src Reg, big bool) byte {
	if big {
		return byte(dst)<<4 | byte(src)&0x0f
	}
	return byte(src)<<4 | byte(dst)&0x0f
}

// AppendEncoded appends the encoding of i, in host byte order as the kernel
// reads it, to b. The immediate must fit in 32 bits except for a 64-bit
// immediate load.
func (i Insn) AppendEncoded(b []byte) ([]byte, error) {
	return i.appendEncoded(b, bigEndian)
}

func (i Insn) appendEncoded(b []byte, big bool) ([]byte, error) {
	if i.Label != "" {
		return b, nil
	}
	if i.Dst > R10 || i.Src > R10 {
		return b, fmt.Errorf("instruction %#02x: register out of range (dst r%d, src r%d)", i.Op, i.Dst, i.Src)
	}
	var bo binary.AppendByteOrder = binary.LittleEndian
	if big {
		bo = binary.BigEndian
	}
	slot := func(b []byte, op uint8, dst, src Reg, off int16, imm int32) []byte {
		b = append(b, op, regs(dst, src, big))
		b = bo.AppendUint16(b, uint16(off))
		return bo.AppendUint32(b, uint32(imm))
	}
	if i.IsLoadImm64() {
		b = slot(b, i.Op, i.Dst, i.Src, i.Off, int32(uint32(i.Imm)))
		return slot(b, 0, 0, 0, 0, int32(uint32(uint64(i.Imm)>>32))), nil
	}
	if i.Imm < -1<<31 || i.Imm > 1<<32-1 {
		return b, fmt.Errorf("instruction %#02x: immediate %d does not fit 32 bits", i.Op, i.Imm)
	}
	return slot(b, i.Op, i.Dst, i.Src, i.Off, int32(uint32(i.Imm))), nil
}
