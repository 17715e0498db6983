//go:build arm64 && !purego

#include "textflag.h"

// func sumVec(b []byte) uint64
//
// 64 bytes per round: one four-register load; each register's four 32-bit
// words are widened and added to 64-bit lanes (UADDW for the low two,
// UADDW2 for the high two) of eight independent accumulators, so no carry
// is ever produced and the adds do not wait on each other.
TEXT ·sumVec(SB), NOSPLIT, $0-32
	MOVD b_base+0(FP), R0
	MOVD b_len+8(FP), R1
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	LSR  $6, R1, R1
	CBZ  R1, done

loop:
	VLD1.P  64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VUADDW  V0.S2, V8.D2, V8.D2
	VUADDW2 V0.S4, V9.D2, V9.D2
	VUADDW  V1.S2, V10.D2, V10.D2
	VUADDW2 V1.S4, V11.D2, V11.D2
	VUADDW  V2.S2, V12.D2, V12.D2
	VUADDW2 V2.S4, V13.D2, V13.D2
	VUADDW  V3.S2, V14.D2, V14.D2
	VUADDW2 V3.S4, V15.D2, V15.D2
	SUBS    $1, R1, R1
	BNE     loop

done:
	VADD V9.D2, V8.D2, V8.D2
	VADD V11.D2, V10.D2, V10.D2
	VADD V13.D2, V12.D2, V12.D2
	VADD V15.D2, V14.D2, V14.D2
	VADD V10.D2, V8.D2, V8.D2
	VADD V14.D2, V12.D2, V12.D2
	VADD V12.D2, V8.D2, V8.D2
	VMOV V8.D[0], R2
	VMOV V8.D[1], R3
	ADD  R3, R2, R2
	MOVD R2, ret+24(FP)
	RET

// func copySumVec(dst, src []byte) uint64
//
// sumVec of src that also stores every load to dst. len(src) is a multiple
// of 64 and len(dst) >= len(src) (checked by the caller).
TEXT ·copySumVec(SB), NOSPLIT, $0-56
	MOVD dst_base+0(FP), R4
	MOVD src_base+24(FP), R0
	MOVD src_len+32(FP), R1
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	LSR  $6, R1, R1
	CBZ  R1, cdone

cloop:
	VLD1.P  64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VST1.P  [V0.S4, V1.S4, V2.S4, V3.S4], 64(R4)
	VUADDW  V0.S2, V8.D2, V8.D2
	VUADDW2 V0.S4, V9.D2, V9.D2
	VUADDW  V1.S2, V10.D2, V10.D2
	VUADDW2 V1.S4, V11.D2, V11.D2
	VUADDW  V2.S2, V12.D2, V12.D2
	VUADDW2 V2.S4, V13.D2, V13.D2
	VUADDW  V3.S2, V14.D2, V14.D2
	VUADDW2 V3.S4, V15.D2, V15.D2
	SUBS    $1, R1, R1
	BNE     cloop

cdone:
	VADD V9.D2, V8.D2, V8.D2
	VADD V11.D2, V10.D2, V10.D2
	VADD V13.D2, V12.D2, V12.D2
	VADD V15.D2, V14.D2, V14.D2
	VADD V10.D2, V8.D2, V8.D2
	VADD V14.D2, V12.D2, V12.D2
	VADD V12.D2, V8.D2, V8.D2
	VMOV V8.D[0], R2
	VMOV V8.D[1], R3
	ADD  R3, R2, R2
	MOVD R2, ret+48(FP)
	RET
