//go:build amd64 && !purego

#include "textflag.h"

// func sumVec(b []byte) uint64
//
// 64 bytes per round: two 32-byte loads; each 64-bit lane's low and high
// 32-bit halves are split (VPAND with a low-dword mask, VPSRLQ by 32) and
// added to four independent 64-bit-lane accumulators, so no carry is ever
// produced and the adds do not wait on each other.
TEXT ·sumVec(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	SHRQ $6, CX
	JZ   done
	VPCMPEQD Y15, Y15, Y15
	VPSRLQ   $32, Y15, Y15 // 0x00000000ffffffff in each 64-bit lane

loop:
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VPAND   Y15, Y4, Y6
	VPSRLQ  $32, Y4, Y7
	VPAND   Y15, Y5, Y8
	VPSRLQ  $32, Y5, Y9
	VPADDQ  Y6, Y0, Y0
	VPADDQ  Y7, Y1, Y1
	VPADDQ  Y8, Y2, Y2
	VPADDQ  Y9, Y3, Y3
	ADDQ    $64, SI
	DECQ    CX
	JNZ     loop

done:
	VPADDQ       Y1, Y0, Y0
	VPADDQ       Y3, Y2, Y2
	VPADDQ       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X1, X0, X0
	VMOVQ        X0, AX
	VZEROUPPER
	MOVQ         AX, ret+24(FP)
	RET

// func copySumVec(dst, src []byte) uint64
//
// sumVec of src that also stores every 32-byte load to dst: the split
// copies each segment's payload and sums it in one pass. len(src) is a
// multiple of 64 and len(dst) >= len(src) (checked by the caller).
TEXT ·copySumVec(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	SHRQ $6, CX
	JZ   cdone
	VPCMPEQD Y15, Y15, Y15
	VPSRLQ   $32, Y15, Y15

cloop:
	VMOVDQU (SI), Y4
	VMOVDQU 32(SI), Y5
	VMOVDQU Y4, (DI)
	VMOVDQU Y5, 32(DI)
	VPAND   Y15, Y4, Y6
	VPSRLQ  $32, Y4, Y7
	VPAND   Y15, Y5, Y8
	VPSRLQ  $32, Y5, Y9
	VPADDQ  Y6, Y0, Y0
	VPADDQ  Y7, Y1, Y1
	VPADDQ  Y8, Y2, Y2
	VPADDQ  Y9, Y3, Y3
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     cloop

cdone:
	VPADDQ       Y1, Y0, Y0
	VPADDQ       Y3, Y2, Y2
	VPADDQ       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDQ       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X1, X0, X0
	VMOVQ        X0, AX
	VZEROUPPER
	MOVQ         AX, ret+48(FP)
	RET
