// Package zipdir reads how many entries a ZIP archive declares, from its end
// records alone. archive/zip reads the whole central directory into memory,
// a few hundred bytes per entry, before a caller can count the entries: an
// archive of millions of empty entries, small enough to download, would
// take gigabytes. Checking the count first lets a caller refuse it.
package zipdir

import (
	"encoding/binary"
	"errors"
	"io"
)

// ErrFormat means no ZIP end of central directory record was found.
var ErrFormat = errors.New("zip: no end of central directory record")

const (
	endLen         = 22 // end of central directory record, without its comment
	end64LocLen    = 20 // ZIP64 end of central directory locator
	end64Len       = 56 // ZIP64 end of central directory record, fixed part
	maxCommentLen  = 0xffff
	endSig         = 0x06054b50
	end64LocSig    = 0x07064b50
	end64Sig       = 0x06064b50
	entries16Limit = 0xffff
)

// Entries returns the number of entries the central directory of the
// archive of size bytes read through r declares, ZIP64 archives included.
// It reads at most the archive's last 64 KiB and its ZIP64 end record.
func Entries(r io.ReaderAt, size int64) (uint64, error) {
	n := min(size, endLen+maxCommentLen)
	if n < endLen {
		return 0, ErrFormat
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, err
	}
	// The last signature whose comment length fits what follows it, as
	// archive/zip looks for it.
	p := -1
	for i := len(buf) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == endSig &&
			i+endLen+int(binary.LittleEndian.Uint16(buf[i+20:])) <= len(buf) {
			p = i
			break
		}
	}
	if p < 0 {
		return 0, ErrFormat
	}
	entries := uint64(binary.LittleEndian.Uint16(buf[p+10:]))
	if entries != entries16Limit {
		return entries, nil
	}
	// 0xffff entries means the count is in the ZIP64 end record, which the
	// locator right before this record points to.
	endAt := size - n + int64(p)
	if endAt < end64LocLen {
		return entries, nil
	}
	loc := make([]byte, end64LocLen)
	if _, err := r.ReadAt(loc, endAt-end64LocLen); err != nil {
		return 0, err
	}
	if binary.LittleEndian.Uint32(loc) != end64LocSig {
		return entries, nil // exactly 65,535 entries, no ZIP64
	}
	at := int64(binary.LittleEndian.Uint64(loc[8:]))
	if at < 0 || at > size-end64Len {
		return 0, ErrFormat
	}
	rec := make([]byte, end64Len)
	if _, err := r.ReadAt(rec, at); err != nil {
		return 0, err
	}
	if binary.LittleEndian.Uint32(rec) != end64Sig {
		return 0, ErrFormat
	}
	return binary.LittleEndian.Uint64(rec[32:]), nil
}
