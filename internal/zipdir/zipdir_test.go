package zipdir

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func archive(t *testing.T, entries int, comment string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range entries {
		if _, err := zw.Create(fmt.Sprintf("e%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.SetComment(comment); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEntries(t *testing.T) {
	tests := []struct {
		name    string
		entries int
		comment string
	}{
		{"empty", 0, ""},
		{"a few", 3, ""},
		{"a comment that holds a signature", 2, "PK\x05\x06 not the end"},
		{"exactly 65,535, no ZIP64", 0xffff, ""},
		{"ZIP64 count", 70000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := archive(t, tt.entries, tt.comment)
			got, err := Entries(bytes.NewReader(b), int64(len(b)))
			if err != nil || got != uint64(tt.entries) {
				t.Fatalf("Entries = %d, %v; want %d", got, err, tt.entries)
			}
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil || len(zr.File) != tt.entries {
				t.Fatalf("archive/zip reads %d entries (%v), want %d", len(zr.File), err, tt.entries)
			}
		})
	}
	for _, b := range [][]byte{nil, []byte("not a zip at all, but long enough to hold a record"), archive(t, 3, "")[:30]} {
		if _, err := Entries(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrFormat) {
			t.Errorf("Entries(%q...) error %v, want ErrFormat", b[:min(len(b), 10)], err)
		}
	}
}
