package pipeline

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"sparkevents/extract/sparktest"
)

// blankWorkbook is an XLSX workbook whose only sheet has no cell at all, as
// the export of a quiet window may be.
func blankWorkbook(t testing.TB) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// blankExports puts a proxy in front of the emulator's API whose finished
// jobs link to a blank workbook on a file host of its own, and returns the
// proxy's URL, to use as the base URL. The emulator always writes a header,
// so the links in its answers are rewritten instead.
func blankExports(t testing.TB, s *sparktest.Server) string {
	t.Helper()
	data := blankWorkbook(t)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Write(data)
	}))
	t.Cleanup(files.Close)
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	api := httptest.NewServer(rp)
	t.Cleanup(api.Close)
	rp.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = bytes.ReplaceAll(body, []byte(s.FileURL), []byte(files.URL))
		body = bytes.ReplaceAll(body, []byte(s.URL), []byte(api.URL))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	return api.URL
}

// A quiet window may export a workbook without a single cell: a sync must
// store nothing for it and move on, or one quiet hour would block every
// later sync.
func TestSyncBlankExport(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	ctx := context.Background()
	o := f.options()
	o.Spark.BaseURL = blankExports(t, f.spark)
	o.Since = f.now.Add(-2 * 24 * time.Hour)
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatalf("sync of blank exports: %v", err)
	}
	// The first export is the new tenant's probe (see Pipeline.probe).
	if st := f.spark.Stats(); st.Jobs != 1+2 || st.Downloads != 0 {
		t.Fatalf("emulator saw %d jobs and %d downloads, want a probe and 2 windows whose files come from the blank host", st.Jobs, st.Downloads)
	}
	if sum.Windows != 2 || sum.Counts.Read != 0 || sum.Counts.Rejected != 0 {
		t.Fatalf("summary %+v, want 2 windows of nothing", sum)
	}
	if want := f.now.Add(-o.Settle); !sum.Watermark.Equal(want) {
		t.Fatalf("summary watermark %s, want %s", sum.Watermark, want)
	}
	wm, ok, err := f.p.watermark(ctx, f.spark.Tenant)
	if err != nil || !ok || !wm.Equal(f.now.Add(-o.Settle)) {
		t.Fatalf("stored watermark %s (%v, %v), want %s", wm, ok, err, f.now.Add(-o.Settle))
	}
	for _, q := range []string{
		"SELECT count(*) FROM spark_events",
		"SELECT count(*) FROM etl_rejects",
		"SELECT count(*) FROM etl_runs WHERE status <> 'succeeded'",
	} {
		if n := count(t, f.p, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
	if n := count(t, f.p, "SELECT count(*) FROM etl_runs WHERE status = 'succeeded' AND rows_read = 0"); n != 2 {
		t.Errorf("%d succeeded runs that read nothing, want 2", n)
	}
}
