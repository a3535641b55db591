package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"sparkevents/internal/zipdir"
)

// errUnzipLimit marks a ZIP member that would take the unzipped total over its limit.
var errUnzipLimit = errors.New("unzip limit")

// errTruncated marks a download cut short, which call asks for again.
var errTruncated error = cutShort("download truncated")

// Download fetches f into dir and returns the paths of the workbooks it
// holds: the file itself when it is an XLSX, its .xlsx members when it is a
// ZIP. The bearer token goes only to trusted hosts; a pre-signed link on
// another host gets none. A download cut short is retried like a failed
// request, then reported.
func (c *Client) Download(ctx context.Context, f File, dir string) ([]string, error) {
	shown := redact(f.URL)
	var tmp string
	err := c.call(ctx, http.MethodGet, f.URL, nil, func(resp *http.Response) (err error) {
		tmp, err = c.save(ctx, resp, dir)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}

	kind, err := sniff(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}
	if kind == kindXLSX {
		final, err := placeUnique(tmp, dir, fileName(f.URL, ".xlsx"))
		if err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("download %s: %w", shown, err)
		}
		return []string{final}, nil
	}
	defer os.Remove(tmp) // the archive is not needed once unpacked
	paths, err := Unpack(tmp, dir, c.cfg.MaxUnzipped)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", shown, err)
	}
	return paths, nil
}

// save streams resp's body into a temporary file in dir and returns its path.
func (c *Client) save(ctx context.Context, resp *http.Response, dir string) (string, error) {
	defer resp.Body.Close()
	limit := c.cfg.MaxDownload
	if resp.ContentLength > limit {
		return "", fmt.Errorf("file is %d bytes, over the download limit of %d bytes (raise the max download size)", resp.ContentLength, limit)
	}
	out, err := os.CreateTemp(dir, ".spark-download-*.part")
	if err != nil {
		return "", err
	}
	name := out.Name()
	fail := func(err error) (string, error) {
		out.Close()
		os.Remove(name)
		return "", err
	}
	w := &fileWriter{f: out}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	switch {
	case w.err != nil:
		// A full disk is not a download to retry.
		return fail(fmt.Errorf("write %s: %w (free space in the temporary directory, TMPDIR)", name, w.err))
	case err != nil && ctx.Err() != nil:
		return fail(ctx.Err())
	case errors.Is(err, io.ErrUnexpectedEOF) && resp.ContentLength >= 0:
		// net/http reports a body shorter than its Content-Length this way.
		return fail(fmt.Errorf("%w after %d of %d bytes", errTruncated, n, resp.ContentLength))
	case err != nil:
		return fail(fmt.Errorf("%w after %d bytes: %w", errTruncated, n, scrubURLError(err)))
	case n > limit:
		return fail(fmt.Errorf("file exceeds the download limit of %d bytes (raise the max download size)", limit))
	case resp.ContentLength >= 0 && n != resp.ContentLength:
		return fail(fmt.Errorf("%w: got %d of %d bytes", errTruncated, n, resp.ContentLength))
	}
	if err := out.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	c.log.Debug("downloaded", "url", redactURL(resp.Request.URL), "bytes", n)
	return name, nil
}

// fileWriter remembers a write error, so that it is told apart from an
// error reading the body.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// fileName derives a safe local name from the last segment of a URL's path,
// with ext when it has no extension of its own.
func fileName(rawURL, ext string) string {
	name := "spark-events"
	if u, err := url.Parse(rawURL); err == nil {
		// A link ending in its secret must not name a file the pipeline logs.
		segs := strings.Split(strings.TrimRight(u.Path, "/"), "/")
		if b := safeName(path.Base(u.Path)); b != "" && !secretSegment(segs, len(segs)-1) {
			name = b
		}
	}
	if !strings.EqualFold(filepath.Ext(name), ext) {
		name = strings.TrimSuffix(name, filepath.Ext(name)) + ext
	}
	return name
}

// safeName keeps a flat, portable file name, or returns "" when nothing
// usable is left.
func safeName(s string) string {
	s = path.Base(strings.ReplaceAll(s, `\`, "/"))
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if strings.Trim(out, "_.") == "" {
		return ""
	}
	return out
}

// placeUnique moves src into dir under name, or name-1, name-2, ... when
// taken: several files of one job, or of two jobs, may share a name. The
// name is claimed by creating it, so two downloads cannot take the same
// one, and src then replaces that empty file.
func placeUnique(src, dir, name string) (string, error) {
	f, err := (&uniqueNames{dir: dir}).create(name)
	if err != nil {
		return "", err
	}
	dst := f.Name()
	f.Close()
	if err := os.Rename(src, dst); err != nil {
		os.Remove(dst)
		return "", err
	}
	return dst, nil
}

// uniqueNames creates new files in dir named name, or name-1, ... when
// taken. It remembers where each name's search ended, so that a ZIP of
// many members of one name does not probe the disk quadratically. The zero
// value with a dir is ready to use.
type uniqueNames struct {
	dir  string
	next map[string]int
}

func (u *uniqueNames) create(name string) (*os.File, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	start := u.next[name]
	for i := start; i < start+10000; i++ {
		cand := name
		if i > 0 {
			cand = stem + "-" + strconv.Itoa(i) + ext
		}
		f, err := os.OpenFile(filepath.Join(u.dir, cand), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if u.next == nil {
			u.next = map[string]int{}
		}
		u.next[name] = i + 1
		return f, err
	}
	return nil, fmt.Errorf("no free file name for %s in %s", name, u.dir)
}

type fileKind int

const (
	kindXLSX fileKind = iota
	kindZIP
)

// sniff tells an XLSX from a ZIP of workbooks by content: an XLSX is a ZIP
// whose root holds [Content_Types].xml.
func sniff(p string) (fileKind, error) {
	f, err := os.Open(p)
	if err != nil {
		// Missing or unreadable: say so, not that the content is wrong.
		return 0, err
	}
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	f.Close()
	zr, err := openZip(p)
	if errors.Is(err, errZipMembers) {
		return 0, err
	}
	if err != nil && bytes.HasPrefix(head[:n], []byte("PK\x03\x04")) {
		// A ZIP's start without its end: cut short on the way.
		return 0, fmt.Errorf("%s is a truncated or damaged ZIP (an XLSX is one): download it again: %w", filepath.Base(p), err)
	}
	if err != nil {
		return 0, fmt.Errorf("%s is neither an XLSX workbook nor a ZIP archive (starts with %q): %w", filepath.Base(p), head[:n], err)
	}
	defer zr.Close()
	return kindOf(&zr.Reader), nil
}

// openZip opens a ZIP archive, accepting insecure member names (with
// GODEBUG=zipinsecurepath=0): Unpack flattens every name anyway. It refuses
// more than MaxZipEntries members before archive/zip reads them into
// memory, a few hundred bytes each.
func openZip(p string) (*zip.ReadCloser, error) {
	if err := checkEntries(p); err != nil {
		return nil, err
	}
	zr, err := zip.OpenReader(p)
	if errors.Is(err, zip.ErrInsecurePath) && zr != nil {
		err = nil
	}
	return zr, err
}

func checkEntries(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	n, err := zipdir.Entries(f, fi.Size())
	if err != nil {
		return err
	}
	if n > MaxZipEntries {
		return fmt.Errorf("the ZIP archive has %d members, more than the %d an export can hold: %w", n, MaxZipEntries, errZipMembers)
	}
	return nil
}

// errZipMembers marks an archive refused for its number of members, which
// is no reason to call it something other than a ZIP.
var errZipMembers = errors.New("too many members")

func kindOf(zr *zip.Reader) fileKind {
	for _, f := range zr.File {
		if f.Name == "[Content_Types].xml" {
			return kindXLSX
		}
	}
	return kindZIP
}

// Limits on a ZIP's members, checked before anything is extracted: an
// export holds a few workbooks, and each member costs a file.
const (
	MaxZipEntries   = 10000
	MaxZipWorkbooks = 1000
)

// Unpack returns the workbooks in the file at path, telling the kind by
// content, not name: an XLSX gives []string{path}; a ZIP gives its .xlsx
// members, written flat into dir (directories in member names are dropped,
// so no member can land outside dir). The bytes actually written, not the
// sizes the archive declares, are bounded by maxUnzipped in total (<= 0:
// DefaultMaxUnzipped), and the members by MaxZipEntries and
// MaxZipWorkbooks. Anything else, or a ZIP without workbooks, is an error;
// on error nothing extracted is left behind.
func Unpack(path, dir string, maxUnzipped int64) ([]string, error) {
	if maxUnzipped <= 0 {
		maxUnzipped = DefaultMaxUnzipped
	}
	kind, err := sniff(path)
	if err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	if kind == kindXLSX {
		return []string{path}, nil
	}
	zr, err := openZip(path)
	if err != nil {
		return nil, fmt.Errorf("unpack %s: %w", filepath.Base(path), err)
	}
	defer zr.Close()

	var written []string
	fail := func(err error) ([]string, error) {
		for _, p := range written {
			os.Remove(p)
		}
		return nil, fmt.Errorf("unpack %s: %w", filepath.Base(path), err)
	}
	var books []*zip.File
	for _, zf := range zr.File {
		if name := safeName(zf.Name); !zf.FileInfo().IsDir() && name != "" && strings.EqualFold(filepath.Ext(name), ".xlsx") {
			books = append(books, zf)
		}
	}
	if len(books) > MaxZipWorkbooks {
		return fail(fmt.Errorf("the ZIP archive holds %d workbooks, more than the %d an export can hold", len(books), MaxZipWorkbooks))
	}
	names := &uniqueNames{dir: dir}
	remaining := maxUnzipped
	for _, zf := range books {
		p, n, err := extractMember(zf, names, safeName(zf.Name), remaining)
		if p != "" {
			written = append(written, p)
		}
		if errors.Is(err, errUnzipLimit) {
			return fail(fmt.Errorf("unzipped data exceeds the limit of %d bytes (zip bomb? raise the max unzipped size)", maxUnzipped))
		}
		if err != nil {
			return fail(err)
		}
		remaining -= n
	}
	if len(written) == 0 {
		return fail(fmt.Errorf("the ZIP archive holds no .xlsx workbook (%d other members)", len(zr.File)))
	}
	for _, p := range written {
		if k, err := sniff(p); err != nil || k != kindXLSX {
			return fail(fmt.Errorf("member %s is not an XLSX workbook", filepath.Base(p)))
		}
	}
	return written, nil
}

// extractMember copies zf into a new file from names, writing at most
// limit bytes, and returns the file's path (even on error, to be cleaned
// up) and the bytes written.
func extractMember(zf *zip.File, names *uniqueNames, name string, limit int64) (string, int64, error) {
	rc, err := zf.Open()
	if err != nil {
		return "", 0, fmt.Errorf("member %s: %w", zf.Name, err)
	}
	defer rc.Close()
	out, err := names.create(name)
	if err != nil {
		return "", 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return out.Name(), n, fmt.Errorf("member %s: %w", zf.Name, err)
	}
	if n > limit {
		return out.Name(), n, errUnzipLimit
	}
	return out.Name(), n, nil
}
