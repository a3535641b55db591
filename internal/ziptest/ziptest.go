// Package ziptest rewrites zip archives in tests, to make damaged or
// unusual workbooks out of generated ones.
package ziptest

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"testing"
)

// Rewrite rewrites every entry of the zip at path through fn, which gets
// each entry's name and content and returns its new content.
func Rewrite(t testing.TB, path string, fn func(name string, b []byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, e := range zr.File {
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(e.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(fn(e.Name, b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
