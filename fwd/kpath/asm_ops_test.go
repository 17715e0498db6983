package kpath

import (
	"fmt"
)

// Instruction constructors. Names follow the kernel's macros (BPF_MOV64_IMM
// is Mov64Imm, BPF_LDX_MEM is LoadMem, ...).

// ALU64Imm returns dst = dst op imm (64-bit).
func ALU64Imm(op ALUOp, dst Reg, imm int32) Insn {
	return Insn{Op: ClassALU64 | uint8(op) | SrcK, Dst: dst, Imm: int64(imm)}
}

// ALU64Reg returns dst = dst op src (64-bit).
func ALU64Reg(op ALUOp, dst, src Reg) Insn {
	return Insn{Op: ClassALU64 | uint8(op) | SrcX, Dst: dst, Src: src}
}

// ALU32Imm returns dst = dst op imm (32-bit; the upper half is zeroed).
func ALU32Imm(op ALUOp, dst Reg, imm int32) Insn {
	return Insn{Op: ClassALU | uint8(op) | SrcK, Dst: dst, Imm: int64(imm)}
}

// ALU32Reg returns dst = dst op src (32-bit; the upper half is zeroed).
func ALU32Reg(op ALUOp, dst, src Reg) Insn {
	return Insn{Op: ClassALU | uint8(op) | SrcX, Dst: dst, Src: src}
}

// Mov64Imm returns dst = imm (sign-extended to 64 bits).
func Mov64Imm(dst Reg, imm int32) Insn { return ALU64Imm(Mov, dst, imm) }

// Mov64Reg returns dst = src.
func Mov64Reg(dst, src Reg) Insn { return ALU64Reg(Mov, dst, src) }

// Mov32Imm returns dst = uint32(imm).
func Mov32Imm(dst Reg, imm int32) Insn { return ALU32Imm(Mov, dst, imm) }

// Mov32Reg returns dst = uint32(src).
func Mov32Reg(dst, src Reg) Insn { return ALU32Reg(Mov, dst, src) }

// HostToBE returns dst = the low bits bits of dst converted from host to
// big-endian order (a byte swap on little-endian hosts; bits is 16, 32 or
// 64).
func HostToBE(dst Reg, bits int32) Insn {
	return Insn{Op: ClassALU | uint8(End) | ToBE, Dst: dst, Imm: int64(bits)}
}

// LoadImm64 returns dst = imm (two slots).
func LoadImm64(dst Reg, imm int64) Insn {
	return Insn{Op: ClassLD | ModeIMM | uint8(DW), Dst: dst, Imm: imm}
}

// LoadMapFD returns dst = the map whose file descriptor is fd (two slots;
// the kernel puts the map's address there at load time).
func LoadMapFD(dst Reg, fd int) Insn {
	return Insn{Op: ClassLD | ModeIMM | uint8(DW), Dst: dst, Src: PseudoMapFD, Imm: int64(uint32(fd))}
}

// LoadMem returns dst = *(size *)(src + off).
func LoadMem(size Size, dst, src Reg, off int16) Insn {
	return Insn{Op: ClassLDX | ModeMEM | uint8(size), Dst: dst, Src: src, Off: off}
}

// StoreMem returns *(size *)(dst + off) = src.
func StoreMem(size Size, dst Reg, off int16, src Reg) Insn {
	return Insn{Op: ClassSTX | ModeMEM | uint8(size), Dst: dst, Src: src, Off: off}
}

// StoreImm returns *(size *)(dst + off) = imm.
func StoreImm(size Size, dst Reg, off int16, imm int32) Insn {
	return Insn{Op: ClassST | ModeMEM | uint8(size), Dst: dst, Off: off, Imm: int64(imm)}
}

// AtomicAdd returns *(size *)(dst + off) += src, atomically (size W or DW).
func AtomicAdd(size Size, dst Reg, off int16, src Reg) Insn {
	return Insn{Op: ClassSTX | ModeATOMIC | uint8(size), Dst: dst, Src: src, Off: off, Imm: int64(Add)}
}

// JumpImm returns: if dst op imm, go to label target (64-bit compare).
func JumpImm(op JumpOp, dst Reg, imm int32, target string) Insn {
	return Insn{Op: ClassJMP | uint8(op) | SrcK, Dst: dst, Imm: int64(imm), Target: target}
}

// JumpReg returns: if dst op src, go to label target (64-bit compare).
func JumpReg(op JumpOp, dst, src Reg, target string) Insn {
	return Insn{Op: ClassJMP | uint8(op) | SrcX, Dst: dst, Src: src, Target: target}
}

// Jump32Imm returns: if uint32(dst) op imm, go to label target.
func Jump32Imm(op JumpOp, dst Reg, imm int32, target string) Insn {
	return Insn{Op: ClassJMP32 | uint8(op) | SrcK, Dst: dst, Imm: int64(imm), Target: target}
}

// Goto returns an unconditional jump to label target.
func Goto(target string) Insn { return Insn{Op: ClassJMP | uint8(Ja), Target: target} }

// CallHelper returns a call of the kernel helper with the given number
// (arguments in R1-R5, result in R0, R1-R5 clobbered).
func CallHelper(fn int32) Insn { return Insn{Op: ClassJMP | uint8(Call), Imm: int64(fn)} }

// Return returns the exit instruction (the program returns R0).
func Return() Insn { return Insn{Op: ClassJMP | uint8(Exit)} }

// Label marks the position of the next instruction as name.
func Label(name string) Insn { return Insn{Label: name} }

// TC verdicts a SchedCLS program returns.
const (
	ActOK       = 0 // TC_ACT_OK: let the packet go on
	ActShot     = 2 // TC_ACT_SHOT: drop it
	ActRedirect = 7 // TC_ACT_REDIRECT: what bpf_redirect* return on success
)

// Helper function numbers (enum bpf_func_id) the programs use.
const (
	FnMapLookupElem  = 1
	FnGetPrandomU32  = 7
	FnCsumDiff       = 28
	FnRedirect       = 23
	FnGetHashRecalc  = 34
	FnSkbPullData    = 39
	FnSkbChangeHead  = 43
	FnSkbAdjustRoom  = 50
	FnRedirectNeigh  = 152
	FnKtimeGetNS     = 5
	FnGetSMPProcID   = 8
	FnMapUpdateElem  = 2
	FnMapDeleteElem  = 3
	FnSkbLoadBytes   = 26
	FnSkbStoreBytes  = 9
	FnL3CsumReplace  = 10
	FnSkbChangeProto = 31
	FnXDPAdjustHead  = 44
	FnXDPAdjustMeta  = 54
)

// Assemble resolves the labels of insns into jump offsets and returns the
// encoded program: InsnSize bytes a slot, in host byte order. It fails on
// an undefined or duplicate label, a jump out of the 16-bit offset range,
// or an immediate that does not fit.
func Assemble(insns []Insn) ([]byte, error) { return assemble(insns, bigEndian) }

// assemble is Assemble for a host of the given byte order.
func assemble(insns []Insn, big bool) ([]byte, error) {
	pos := make(map[string]int)
	slot := 0
	for _, in := range insns {
		if in.Label != "" {
			if _, dup := pos[in.Label]; dup {
				return nil, fmt.Errorf("assemble: label %q defined twice", in.Label)
			}
			pos[in.Label] = slot
			continue
		}
		slot += in.Slots()
	}
	out := make([]byte, 0, slot*InsnSize)
	slot = 0
	for n, in := range insns {
		if in.Label != "" {
			continue
		}
		if in.Target != "" {
			to, ok := pos[in.Target]
			if !ok {
				return nil, fmt.Errorf("assemble: instruction %d jumps to undefined label %q", n, in.Target)
			}
			off := to - (slot + 1)
			if off < -1<<15 || off >= 1<<15 {
				return nil, fmt.Errorf("assemble: instruction %d: jump to %q out of range (%d)", n, in.Target, off)
			}
			in.Off = int16(off)
		}
		var err error
		if out, err = in.appendEncoded(out, big); err != nil {
			return nil, fmt.Errorf("assemble: instruction %d: %w", n, err)
		}
		slot += in.Slots()
	}
	return out, nil
}
