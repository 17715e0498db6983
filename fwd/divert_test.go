package fwd

import "testing"

func TestIsControlDatagram(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"empty", nil, false},
		{"Info-Reply", []byte{0x78, 0, 0, 0}, true},
		{"Info-Request", []byte{0x70, 0, 0, 0}, true},
		{"Data-Map-Notify", []byte{0x88, 0, 0, 1, 0xff, 0xff, 0xff, 0}, true},
		{"data, instance 0xFFFFFE", []byte{0x88, 0, 0, 1, 0xff, 0xff, 0xfe, 0}, false},
		{"data without I bit", []byte{0x80, 0, 0, 1, 0xff, 0xff, 0xff, 0}, false},
		{"data, short", []byte{0x88, 0, 0, 1, 0xff, 0xff}, false},
		{"data, instance 0", []byte{0x88, 0, 0, 1, 0, 0, 0, 1}, false},
	}
	for _, tt := range tests {
		if got := IsControlDatagram(tt.b); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
