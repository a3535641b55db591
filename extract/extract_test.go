package extract_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"sparkevents/extract"
	"sparkevents/extract/sparktest"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// events are four events one hour apart, from t0.
func events() []sparktest.Event {
	return []sparktest.Event{
		{ID: "e1", Time: t0, Type: "SparkLogin", User: "ann@x.com", FolderID: "f1", Service: "svc"},
		{ID: "e2", Time: t0.Add(time.Hour), Type: "PublishEngine", User: "bob@x.com", FolderID: "f1", Service: "svc"},
		{ID: "e3", Time: t0.Add(2 * time.Hour), Type: "DownloadEngine", User: "ann@x.com", FolderID: "f2", Service: "other"},
		{ID: "e4", Time: t0.Add(3 * time.Hour), Type: "PublishEngine", User: "ann@x.com", FolderID: "f1", Service: "svc"},
	}
}

func newServer(t *testing.T, opts sparktest.Options) *sparktest.Server {
	t.Helper()
	srv := sparktest.NewServer(opts)
	t.Cleanup(srv.Close)
	srv.AddEvents(events()...)
	return srv
}

// fastConfig is a Config for srv with waits short enough for tests.
func fastConfig(srv *sparktest.Server) extract.Config {
	return extract.Config{
		BaseURL:         srv.URL,
		Tenant:          srv.Tenant,
		Token:           srv.Token,
		UserAgent:       "sparkevents-test",
		PollInterval:    time.Millisecond,
		MaxPollInterval: 5 * time.Millisecond,
		JobTimeout:      10 * time.Second,
		MinRetryWait:    time.Millisecond,
		MaxRetryWait:    10 * time.Millisecond,
	}
}

func newClient(t *testing.T, cfg extract.Config) *extract.Client {
	t.Helper()
	c, err := extract.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// doneJob submits an export of everything and waits for its files.
func doneJob(t *testing.T, c *extract.Client) []extract.File {
	t.Helper()
	job, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := c.Wait(t.Context(), job)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// run submits q, waits and downloads every file into a temp dir.
func run(ctx context.Context, c *extract.Client, q extract.Query, dir string) ([]string, error) {
	job, err := c.Submit(ctx, q)
	if err != nil {
		return nil, err
	}
	files, err := c.Wait(ctx, job)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range files {
		p, err := c.Download(ctx, f, dir)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p...)
	}
	return paths, nil
}

// eventIDs reads the Event ID column of workbooks written by sparktest.
func eventIDs(t *testing.T, paths []string) []string {
	t.Helper()
	var ids []string
	for _, p := range paths {
		f, err := excelize.OpenFile(p)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		rows, err := f.GetRows(f.GetSheetList()[0])
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < 3 || rows[0][0] != sparktest.Title || rows[2][0] != "Event ID" {
			t.Fatalf("%s: unexpected layout %q", p, rows)
		}
		for _, r := range rows[3:] {
			ids = append(ids, r[0])
		}
	}
	slices.Sort(ids)
	return ids
}

func TestHappyPath(t *testing.T) {
	tests := []struct {
		name      string
		opts      sparktest.Options
		wantFiles int
	}{
		{"xlsx", sparktest.Options{}, 1},
		{"zip split in two workbooks", sparktest.Options{Format: "zip"}, 2},
		{"two xlsx files", sparktest.Options{Files: 2}, 2},
		{"two zip files", sparktest.Options{Format: "zip", Files: 2}, 4},
		{"signed file links", sparktest.Options{SignedFileURLs: true}, 1},
		{"several pending polls", sparktest.Options{PendingPolls: 4}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.opts)
			c := newClient(t, fastConfig(srv))
			dir := t.TempDir()
			paths, err := run(t.Context(), c, extract.Query{Start: t0, End: t0.Add(24 * time.Hour)}, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(paths) != tt.wantFiles {
				t.Errorf("got %d workbooks %v, want %d", len(paths), paths, tt.wantFiles)
			}
			for _, p := range paths {
				if filepath.Dir(p) != dir || filepath.Ext(p) != ".xlsx" {
					t.Errorf("workbook %s is not an .xlsx in %s", p, dir)
				}
			}
			if got, want := eventIDs(t, paths), []string{"e1", "e2", "e3", "e4"}; !slices.Equal(got, want) {
				t.Errorf("event ids = %v, want %v", got, want)
			}
			left, _ := os.ReadDir(dir)
			if len(left) != len(paths) {
				t.Errorf("dir holds %d entries, want only the %d workbooks", len(left), len(paths))
			}
			st := srv.Stats()
			if st.AuthHeadersSeenByFileHost != 0 {
				t.Errorf("file host saw the bearer token %d times", st.AuthHeadersSeenByFileHost)
			}
			if st.Downloads == 0 {
				t.Error("no download reached the file host")
			}
			if got := c.Requests(); got != int64(st.Requests) {
				t.Errorf("Requests() = %d, server saw %d", got, st.Requests)
			}
		})
	}
}

func TestSubmitSendsFilters(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	c := newClient(t, fastConfig(srv))
	q := extract.Query{
		Start:       t0.Add(time.Hour),
		End:         t0.Add(3 * time.Hour),
		EventTypes:  []string{"PublishEngine", "DownloadEngine"},
		UserName:    "ann@x.com",
		ServiceName: "svc",
		FolderID:    "f1",
	}
	paths, err := run(t.Context(), c, q, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Both window ends are inclusive in the emulator: e4 sits on End.
	if got := eventIDs(t, paths); !slices.Equal(got, []string{"e4"}) {
		t.Errorf("event ids = %v, want [e4]", got)
	}

	subs := srv.Submissions()
	if len(subs) != 1 {
		t.Fatalf("%d submissions, want 1", len(subs))
	}
	sub := subs[0]
	wantSearch := map[string]string{
		"event_start_date": "2026-03-02T11:00:00.000Z",
		"event_end_date":   "2026-03-02T13:00:00.000Z",
		"event_types":      `["PublishEngine","DownloadEngine"]`,
		"user_name":        "ann@x.com",
		"service_name":     "svc",
		"folder_id":        "f1",
	}
	for k, v := range wantSearch {
		if sub.Search[k] != v {
			t.Errorf("search %s = %q, want %q", k, sub.Search[k], v)
		}
	}
	if len(sub.Search) != len(wantSearch) {
		t.Errorf("search = %v, want exactly %v", sub.Search, wantSearch)
	}
	var body map[string]any
	if err := json.Unmarshal(sub.Body, &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"page_size", "pageSize"} {
		if body[k] != float64(extract.DefaultPageSize) {
			t.Errorf("%s = %v, want %d", k, body[k], extract.DefaultPageSize)
		}
	}
	if body["page_no"] != float64(1) || body["sort_order"] != "asc" {
		t.Errorf("page_no/sort_order = %v/%v", body["page_no"], body["sort_order"])
	}
	// Spark's sample sends event_types as a JSON-encoded string, not an array.
	if !bytes.Contains(sub.Body, []byte(`"value":"[\"PublishEngine\",\"DownloadEngine\"]"`)) {
		t.Errorf("event_types not sent as a JSON string: %s", sub.Body)
	}
}

func TestSubmitOmitsEmptyFilters(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	c := newClient(t, fastConfig(srv))
	if _, err := c.Submit(t.Context(), extract.Query{PageSize: 50}); err != nil {
		t.Fatal(err)
	}
	sub := srv.Submissions()[0]
	if len(sub.Search) != 0 || sub.PageSize != 50 {
		t.Errorf("search = %v, page size = %d; want none and 50", sub.Search, sub.PageSize)
	}
}

func TestSubmitRejectsReversedWindow(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	c := newClient(t, fastConfig(srv))
	_, err := c.Submit(t.Context(), extract.Query{Start: t0, End: t0.Add(-time.Second)})
	if err == nil || !strings.Contains(err.Error(), "before it starts") {
		t.Fatalf("err = %v, want a reversed-window error", err)
	}
	if c.Requests() != 0 {
		t.Errorf("made %d requests for an invalid query", c.Requests())
	}
}

func TestRowCap(t *testing.T) {
	srv := newServer(t, sparktest.Options{PageSize: 3})
	c := newClient(t, fastConfig(srv))
	paths, err := run(t.Context(), c, extract.Query{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(t, paths); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Errorf("event ids = %v, want the 3 oldest", got)
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	tests := []struct {
		name    string
		faults  sparktest.Faults
		minTime time.Duration
	}{
		// One Retry-After: 1 and one x-retry-after: 1, both honoured.
		{"429 with Retry-After", sparktest.Faults{RateLimited: 2}, 1900 * time.Millisecond},
		{"500s", sparktest.Faults{ServerErrors: 4}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{})
			cfg := fastConfig(srv)
			cfg.MaxRetryWait = 2 * time.Second
			c := newClient(t, cfg)
			srv.SetFaults(tt.faults)
			start := time.Now()
			paths, err := run(t.Context(), c, extract.Query{}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed < tt.minTime {
				t.Errorf("took %s, want >= %s: Retry-After not honoured", elapsed, tt.minTime)
			}
			if len(eventIDs(t, paths)) != 4 {
				t.Error("want 4 events")
			}
			if srv.Stats().Jobs != 1 {
				t.Errorf("%d jobs submitted, want 1", srv.Stats().Jobs)
			}
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	cfg := fastConfig(srv)
	cfg.Retries = 2
	c := newClient(t, cfg)
	srv.SetFaults(sparktest.Faults{ServerErrors: 10})
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("err = %v, want a 500 StatusError", err)
	}
	if got := srv.Stats().Requests; got != 3 {
		t.Errorf("server saw %d requests, want 3 (1 + 2 retries)", got)
	}
}

func TestClientErrorsFailAtOnce(t *testing.T) {
	tests := []struct {
		code int
		hint string
	}{
		{400, "check the query"},
		{403, "check SPARK_TENANT"},
		{404, "check SPARK_URL and SPARK_TENANT"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Error(w, `{"message":"nope"}`, tt.code)
			}))
			defer ts.Close()
			c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", MinRetryWait: time.Millisecond})
			_, err := c.Submit(t.Context(), extract.Query{})
			var se *extract.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a StatusError", err)
			}
			if se.StatusCode != tt.code || se.Method != "POST" || !strings.Contains(se.Hint, tt.hint) || !strings.Contains(se.Body, "nope") {
				t.Errorf("StatusError = %+v, want code %d and hint %q", se, tt.code, tt.hint)
			}
			if !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("error %q does not show the hint", err)
			}
			if hits.Load() != 1 {
				t.Errorf("%d requests, want 1 (no retry)", hits.Load())
			}
		})
	}
}

func TestStatusErrorBodyTrimmed(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("x", 5000), http.StatusBadRequest)
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok"})
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || len(se.Body) != 512 {
		t.Fatalf("err = %v; want a StatusError with a 512-byte body", err)
	}
}

// An error page that quotes the request's token does not bring it into
// the error, which ends up in logs and etl_runs.
func TestStatusErrorHidesEchoedToken(t *testing.T) {
	long := strings.Repeat("k", 1500) // Keycloak's tokens run to kilobytes
	tests := []struct {
		name, token, before string
		hidden              bool // "[token]" still shows within the snippet
	}{
		{"short", "tok-s3cret-4711", "forbidden: ", true},
		{"long", long, "forbidden: ", true},
		{"across the cut", "tok-s3cret-" + long[:40], strings.Repeat("x", 480), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, tt.before+r.Header.Get("Authorization"), http.StatusForbidden)
			}))
			defer ts.Close()
			_, err := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: tt.token}).Submit(t.Context(), extract.Query{})
			if err == nil || tt.hidden && !strings.Contains(err.Error(), "Bearer [token]") {
				t.Fatalf("err = %v, want the body with the token hidden", err)
			}
			if strings.Contains(err.Error(), tt.token[:12]) {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestWrongTenantIs404(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	cfg := fastConfig(srv)
	cfg.Tenant = "other"
	c := newClient(t, cfg)
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.Contains(se.Hint, "SPARK_TENANT") {
		t.Fatalf("err = %v, want 404 with a tenant hint", err)
	}
}

func TestWrongToken(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	cfg := fastConfig(srv)
	cfg.Token = "stale"
	c := newClient(t, cfg)
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 {
		t.Fatalf("err = %v, want a 401 StatusError", err)
	}
	if !strings.Contains(err.Error(), "token rejected: get a new token or use SPARK_CLIENT_ID/SPARK_CLIENT_SECRET") {
		t.Errorf("error %q lacks the token hint", err)
	}
	if strings.Contains(err.Error(), "stale") {
		t.Errorf("error %q shows the token", err)
	}
	if got := srv.Stats().Requests; got != 1 {
		t.Errorf("%d requests, want 1: a static token cannot be refreshed", got)
	}
}

func TestClientCredentials(t *testing.T) {
	srv := newServer(t, sparktest.Options{ClientID: "cid", ClientSecret: "shh"})
	cfg := fastConfig(srv)
	cfg.Token, cfg.ClientID, cfg.ClientSecret, cfg.TokenURL = "", "cid", "shh", srv.TokenURL
	c := newClient(t, cfg)
	ctx := t.Context()

	if _, err := run(ctx, c, extract.Query{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().Tokens; got != 1 {
		t.Fatalf("%d tokens issued, want 1 reused for every request", got)
	}

	// A token revoked early gets a 401: the client refreshes once and retries.
	srv.RevokeTokens()
	before := srv.Stats().Requests
	if _, err := c.Submit(ctx, extract.Query{}); err != nil {
		t.Fatalf("Submit after revocation: %v", err)
	}
	st := srv.Stats()
	if st.Tokens != 2 {
		t.Errorf("%d tokens issued, want 2", st.Tokens)
	}
	if got := st.Requests - before; got != 3 {
		t.Errorf("%d requests, want 3 (401, token, retry)", got)
	}
	if st.AuthHeadersSeenByFileHost != 0 {
		t.Errorf("file host saw the token %d times", st.AuthHeadersSeenByFileHost)
	}
}

func TestClientCredentialsRejected(t *testing.T) {
	const secret = "wrong-s3cret-4711"
	srv := newServer(t, sparktest.Options{ClientID: "cid", ClientSecret: "shh"})
	// A token endpoint that echoes the secret it was sent, as some do in
	// their error description.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s"}`, r.PostForm.Get("client_secret"))
	}))
	defer echo.Close()
	// And one that fails once with a 503 echoing it, which is retried
	// and logged.
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		} else {
			w.WriteHeader(http.StatusUnauthorized)
		}
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s"}`, r.PostForm.Get("client_secret"))
	}))
	defer flaky.Close()
	for _, tokenURL := range []string{srv.TokenURL, echo.URL, flaky.URL} {
		var logs bytes.Buffer
		cfg := fastConfig(srv)
		cfg.Token, cfg.ClientID, cfg.ClientSecret, cfg.TokenURL = "", "cid", secret, tokenURL
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := newClient(t, cfg)
		_, err := c.Submit(t.Context(), extract.Query{})
		if err == nil || !strings.Contains(err.Error(), "SPARK_CLIENT_ID/SPARK_CLIENT_SECRET") || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err = %v, want a client-credentials error", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q shows the secret", err)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log shows the secret:\n%s", logs.String())
		}
	}
	if calls.Load() != 2 {
		t.Errorf("the flaky endpoint got %d requests, want 2 (one retry)", calls.Load())
	}
	if got := srv.Stats().Requests; got != 1 {
		t.Errorf("%d requests, want only the refused token request", got)
	}
}

func TestTokenNeverFollowsRedirectToFileHost(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	files := doneJob(t, newClient(t, fastConfig(srv)))

	// A trusted host that redirects the download to the (untrusted) file
	// host under the same host name, another port: net/http alone would
	// keep the token across that redirect.
	target := strings.Replace(files[0].URL, "//localhost:", "//127.0.0.1:", 1)
	var sawToken atomic.Bool
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawToken.Store(r.Header.Get("Authorization") == "Bearer "+srv.Token)
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer redir.Close()
	cfg := fastConfig(srv)
	cfg.TrustedHosts = []string{strings.TrimPrefix(redir.URL, "http://")}
	c := newClient(t, cfg)
	paths, err := c.Download(t.Context(), extract.File{URL: redir.URL + "/file.xlsx"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(eventIDs(t, paths)) != 4 {
		t.Error("want 4 events")
	}
	if !sawToken.Load() {
		t.Error("the trusted host did not get the token")
	}
	if got := srv.Stats().AuthHeadersSeenByFileHost; got != 0 {
		t.Errorf("file host saw the token %d times after a redirect", got)
	}
}

// With an https base URL the token never goes over plain HTTP, not even to
// a trusted host or after a redirect.
func TestTokenNeverOverPlainHTTP(t *testing.T) {
	var sawToken atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawToken.Add(1)
		}
		w.Write(xlsxBytes(t))
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/redirected.xlsx", http.StatusFound)
	}))
	defer tls.Close()
	c := newClient(t, extract.Config{
		BaseURL: tls.URL, Tenant: "t", Token: "tok", HTTPClient: tls.Client(),
		TrustedHosts: []string{"127.0.0.1"}, // both servers, any port
	})
	for _, link := range []string{plain.URL + "/direct.xlsx", tls.URL + "/file.xlsx"} {
		if _, err := c.Download(t.Context(), extract.File{URL: link}, t.TempDir()); err != nil {
			t.Fatalf("download %s: %v", link, err)
		}
	}
	if n := sawToken.Load(); n != 0 {
		t.Errorf("the plain-HTTP host got the token %d times", n)
	}
}

func TestTrustedFileHostGetsToken(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	cfg := fastConfig(srv)
	u, _ := url.Parse(srv.FileURL)
	cfg.TrustedHosts = []string{u.Hostname()} // any port
	c := newClient(t, cfg)
	if _, err := run(t.Context(), c, extract.Query{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats().AuthHeadersSeenByFileHost; got != 1 {
		t.Errorf("trusted file host saw the token %d times, want 1", got)
	}
}

func TestFailedJob(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	srv.SetFaults(sparktest.Faults{FailJobs: "export quota exceeded"})
	c := newClient(t, fastConfig(srv))
	_, err := run(t.Context(), c, extract.Query{}, t.TempDir())
	var je *extract.JobError
	if !errors.As(err, &je) {
		t.Fatalf("err = %v, want a JobError", err)
	}
	if je.Message != "export quota exceeded" || je.Status != "Failed" || je.JobID != srv.Submissions()[0].ID {
		t.Errorf("JobError = %+v", je)
	}
	if want := "spark job " + je.JobID + " Failed: export quota exceeded"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

func TestStuckJobTimesOut(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	srv.SetFaults(sparktest.Faults{StuckJobs: true})
	cfg := fastConfig(srv)
	cfg.JobTimeout = 50 * time.Millisecond
	c := newClient(t, cfg)
	job, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Wait(t.Context(), job)
	if !errors.Is(err, extract.ErrJobTimeout) {
		t.Fatalf("err = %v, want ErrJobTimeout", err)
	}
	if !strings.Contains(err.Error(), job.ID) || !strings.Contains(err.Error(), "--job-timeout") {
		t.Errorf("error %q lacks the job id or the --job-timeout advice", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Wait took %s for a 50ms timeout", d)
	}
	if srv.Stats().Polls < 2 {
		t.Errorf("only %d polls", srv.Stats().Polls)
	}
}

func TestWaitHonoursCancel(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	srv.SetFaults(sparktest.Faults{StuckJobs: true})
	c := newClient(t, fastConfig(srv))
	job, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err = c.Wait(ctx, job)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, extract.ErrJobTimeout) {
		t.Fatalf("err = %v, want the caller's deadline, not ErrJobTimeout", err)
	}
}

// statusServer answers every status poll with body.
func statusServer(t *testing.T, body string) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestStatusWords(t *testing.T) {
	const files = `{"files":[{"file":"/f/a.xlsx","file_hash":"abc"}]}`
	tests := []struct {
		name     string
		body     string
		wantErr  string // substring of a JobError, "" for success
		wantHash string // of the one file /f/a.xlsx a success gives
	}{
		{"Success", `{"status":"Success","outputs":` + files + `,"error":null}`, "", "abc"},
		{"completed", `{"status":"COMPLETED","outputs":` + files + `}`, "", "abc"},
		{"closed", `{"status":"closed","outputs":` + files + `}`, "", "abc"},
		{"download_url", `{"status":"Success","download_url":"/f/a.xlsx","error":null}`, "", ""},
		{"outputs.download_url", `{"status":"Success","outputs":{"download_url":"/f/a.xlsx"}}`, "", ""},
		{"files before download_url", `{"status":"Success","download_url":"/other.zip","outputs":` + files + `}`, "", "abc"},
		{"completed_by_timeout", `{"status":"completed_by_timeout","outputs":` + files + `}`, "completed_by_timeout", ""},
		{"cancelled", `{"status":"cancelled"}`, "cancelled", ""},
		{"error object", `{"status":"Success","error":{"message":"disk full"}}`, "disk full", ""},
		{"error string", `{"status":"in_progress","error":"boom"}`, "boom", ""},
		{"response_data", `{"status":"Success","response_data":{"job_id":"j1","status":"completed","progress":100,"download_url":"/f/a.xlsx"}}`, "", ""},
		{"response_data without a status word", `{"status":"Success","response_data":{"job_id":"j1","progress":100,"download_url":"/f/a.xlsx"}}`, "", ""},
		{"response_data failed", `{"status":"Success","response_data":{"job_id":"j1","status":"failed","progress":100}}`, "failed", ""},
		{"errors objects", `{"status":"completed","errors":[{"code":"E1","message":"quota"},{"message":"disk full"}]}`, "quota; disk full", ""},
		{"errors strings", `{"status":"Success","errors":["boom"],"outputs":` + files + `}`, "boom", ""},
		{"errors empty", `{"status":"Success","errors":[],"outputs":` + files + `}`, "", "abc"},
		{"errors null", `{"status":"Success","errors":null,"outputs":` + files + `}`, "", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := statusServer(t, tt.body)
			c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", JobTimeout: time.Second})
			files, err := c.Wait(t.Context(), extract.Job{ID: "j1", StatusURL: ts.URL + "/t/api/v4/events/download/j1/status"})
			if tt.wantErr != "" {
				var je *extract.JobError
				if !errors.As(err, &je) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a JobError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := extract.File{URL: ts.URL + "/f/a.xlsx", Hash: tt.wantHash}
			if len(files) != 1 || files[0] != want {
				t.Errorf("files = %+v, want [%+v]: the link resolved against the status URL", files, want)
			}
		})
	}
}

// The SDKs' job answers say "Success" for the call while response_data's
// progress is below 100: a file named then is not the job's result.
func TestResponseDataProgress(t *testing.T) {
	var polls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if polls.Add(1) < 3 {
			fmt.Fprint(w, `{"status":"Success","response_data":{"job_id":"j1","progress":40,"download_url":"/f/partial.xlsx"}}`)
			return
		}
		fmt.Fprint(w, `{"status":"Success","response_data":{"job_id":"j1","progress":100,"download_url":"/f/a.xlsx"}}`)
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", PollInterval: time.Millisecond, JobTimeout: 5 * time.Second})
	files, err := c.Wait(t.Context(), extract.Job{ID: "j1", StatusURL: ts.URL + "/t/api/v4/events/download/j1/status"})
	if err != nil || len(files) != 1 || files[0].URL != ts.URL+"/f/a.xlsx" {
		t.Fatalf("Wait = %v, %v; want /f/a.xlsx after progress reached 100", files, err)
	}
	if polls.Load() != 3 {
		t.Errorf("%d polls, want 3", polls.Load())
	}
}

// A job done without a file link must not pass for an empty window: the
// pipeline would move its watermark past events it never stored.
func TestSuccessWithoutFilesIsNotEmpty(t *testing.T) {
	for _, body := range []string{
		`{"status":"Success","outputs":{"files":[]},"error":null}`,
		`{"status":"Success","outputs":{"files":[{"file":"","file_hash":null}]}}`,
		`{"status":"completed","download_url":"  "}`,
		`{"status":"Success"}`,
	} {
		t.Run(body, func(t *testing.T) {
			ts := statusServer(t, body)
			c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", PollInterval: 5 * time.Millisecond, JobTimeout: 100 * time.Millisecond})
			files, err := c.Wait(t.Context(), extract.Job{ID: "j1", StatusURL: ts.URL + "/t/api/v4/events/download/j1/status"})
			if !errors.Is(err, extract.ErrJobTimeout) || !strings.Contains(err.Error(), "no file to download") {
				t.Fatalf("Wait = %v, %v; want ErrJobTimeout saying the job gave no file", files, err)
			}
		})
	}
}

func TestFilesListedLate(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	srv.SetFaults(sparktest.Faults{FilesLate: 3})
	c := newClient(t, fastConfig(srv))
	paths, err := run(t.Context(), c, extract.Query{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(t, paths); len(got) != 4 {
		t.Errorf("events %v, want 4", got)
	}
	if polls := srv.Stats().Polls; polls != 5 { // one in progress, three without files, one with
		t.Errorf("%d polls, want 5", polls)
	}
}

func TestDownloadURLAnswer(t *testing.T) {
	for _, format := range []string{"xlsx", "zip"} {
		t.Run(format, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{DownloadURL: true, Format: format, Files: 3})
			c := newClient(t, fastConfig(srv))
			paths, err := run(t.Context(), c, extract.Query{}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if got := eventIDs(t, paths); !slices.Equal(got, []string{"e1", "e2", "e3", "e4"}) {
				t.Errorf("events %v, want e1-e4", got)
			}
			if st := srv.Stats(); st.Downloads != 1 || st.AuthHeadersSeenByFileHost != 0 {
				t.Errorf("stats %+v, want one download without a token", st)
			}
		})
	}
}

func TestStatusURLOnUntrustedHost(t *testing.T) {
	srv := newServer(t, sparktest.Options{ForeignStatusURL: true})
	c := newClient(t, fastConfig(srv))
	job, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if want := srv.URL + "/" + srv.Tenant + "/api/v4/events/download/" + job.ID + "/status"; job.StatusURL != want {
		t.Errorf("status URL %s, want the documented path on the base URL %s", job.StatusURL, want)
	}
	if _, err := c.Wait(t.Context(), job); err != nil {
		t.Fatal(err)
	}

	// Trusted, the host named by status_url is used as given.
	cfg := fastConfig(srv)
	cfg.TrustedHosts = []string{"localhost"}
	job, err = newClient(t, cfg).Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(job.StatusURL, "http://localhost:") {
		t.Errorf("status URL %s, want the trusted host of status_url", job.StatusURL)
	}
}

func TestWaitBuildsStatusURL(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	c := newClient(t, fastConfig(srv))
	job, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(t.Context(), extract.Job{ID: job.ID}); err != nil {
		t.Fatalf("Wait with only a job id: %v", err)
	}
}

// A download cut short, or one whose server sends part of the file and
// then nothing, is retried; when every attempt fails, the error says why
// and nothing is left behind.
func TestInterruptedDownload(t *testing.T) {
	tests := []struct {
		name    string
		faults  sparktest.Faults
		failed  int    // downloads that fail
		wantErr string // when every attempt fails
	}{
		{"cut once, retried", sparktest.Faults{TruncateDownloads: 1}, 1, ""},
		{"cut every attempt", sparktest.Faults{TruncateDownloads: 3}, 3, "truncated"}, // Retries 2: three attempts
		{"stalled once, retried", sparktest.Faults{StallDownloads: 1}, 1, ""},
		{"stalled every attempt", sparktest.Faults{StallDownloads: 3}, 3, "no data received for 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{})
			cfg := fastConfig(srv)
			cfg.Retries, cfg.IdleTimeout = 2, 100*time.Millisecond
			c := newClient(t, cfg)
			srv.SetFaults(tt.faults)
			dir := t.TempDir()
			paths, err := run(t.Context(), c, extract.Query{}, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("left %d files behind", len(left))
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got := eventIDs(t, paths); len(got) != 4 {
				t.Errorf("events %v, want 4", got)
			}
			if got, want := srv.Stats().Downloads, tt.failed+btoi(tt.wantErr == ""); got != want {
				t.Errorf("%d downloads, want %d", got, want)
			}
		})
	}
}

// A download's server errors and cut transfers share one budget of
// Retries: the file is asked for at most Retries+1 times.
func TestDownloadRetriesShareOneBudget(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	cfg := fastConfig(srv)
	cfg.Retries = 2
	c := newClient(t, cfg)
	files := doneJob(t, c)
	before := srv.Stats().Requests
	srv.SetFaults(sparktest.Faults{ServerErrors: 1, TruncateDownloads: 100})
	if _, err := c.Download(t.Context(), files[0], t.TempDir()); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v, want a truncated download", err)
	}
	if got := srv.Stats().Requests - before; got != 3 {
		t.Fatalf("the file was asked for %d times, want 3 (a server error, then two cut transfers)", got)
	}
}

// A status answer cut short, or stalled after its headers, is polled
// again: a poll changes nothing on Spark. When every attempt fails, the
// error says why.
func TestInterruptedPoll(t *testing.T) {
	tests := []struct {
		name    string
		faults  sparktest.Faults
		polls   int    // status requests made
		wantErr string // when every attempt fails
	}{
		{"cut once, polled again", sparktest.Faults{CutPolls: 1}, 2, ""},
		{"stalled once, polled again", sparktest.Faults{StallPolls: 1}, 2, ""},
		{"cut and stalled", sparktest.Faults{CutPolls: 1, StallPolls: 1}, 3, ""},
		{"cut, then done without files", sparktest.Faults{CutPolls: 1, FilesLate: 1}, 3, ""},
		{"cut every attempt", sparktest.Faults{CutPolls: 3}, 3, "answer cut short"}, // Retries 2: three attempts
		{"stalled every attempt", sparktest.Faults{StallPolls: 3}, 3, "no data received for 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{PendingPolls: -1})
			cfg := fastConfig(srv)
			cfg.Retries, cfg.IdleTimeout = 2, 100*time.Millisecond
			c := newClient(t, cfg)
			job, err := c.Submit(t.Context(), extract.Query{})
			if err != nil {
				t.Fatal(err)
			}
			srv.SetFaults(tt.faults)
			files, err := c.Wait(t.Context(), job)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case len(files) == 0:
				t.Fatal("no file")
			}
			if got := srv.Stats().Polls; got != tt.polls {
				t.Errorf("%d polls, want %d", got, tt.polls)
			}
		})
	}
}

// Status answers that stall until the job timeout passes end in a timeout
// that says so, not in one that blames a job still running.
func TestPollsStalledUntilTheJobTimeout(t *testing.T) {
	tests := []struct {
		name string
		idle time.Duration
		say  []string
	}{
		{"stalled answers, then the timeout", 200 * time.Millisecond, []string{"while its status answers were cut short", "no data received for 200ms"}},
		{"the timeout before the first stall ends", 2 * time.Second, []string{"passed while waiting for a status answer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{PendingPolls: -1})
			cfg := fastConfig(srv)
			cfg.Retries, cfg.IdleTimeout, cfg.JobTimeout = 5, tt.idle, 700*time.Millisecond
			c := newClient(t, cfg)
			job, err := c.Submit(t.Context(), extract.Query{})
			if err != nil {
				t.Fatal(err)
			}
			srv.SetFaults(sparktest.Faults{StuckJobs: true, StallPolls: 100})
			_, err = c.Wait(t.Context(), job)
			if !errors.Is(err, extract.ErrJobTimeout) || strings.Contains(err.Error(), "still \"") {
				t.Fatalf("err = %v, want a job timeout that does not blame a job still running", err)
			}
			for _, s := range tt.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want it to say %q", err, s)
				}
			}
		})
	}
}

// A submission whose answer is cut short is sent again; the job the first
// one started is left to Spark. Server errors and cut answers share one
// budget of Retries, so a submission goes out at most Retries+1 times.
func TestSubmitAnswerCutShort(t *testing.T) {
	tests := []struct {
		name     string
		faults   sparktest.Faults
		requests int // submissions sent
		jobs     int // jobs created
		wantErr  string
	}{
		{"cut once", sparktest.Faults{CutSubmits: 1}, 2, 2, ""},
		{"cut every attempt", sparktest.Faults{CutSubmits: 3}, 3, 3, "answer cut short"}, // Retries 2: three attempts
		{"a server error, then cut", sparktest.Faults{ServerErrors: 1, CutSubmits: 100}, 3, 2, "answer cut short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{})
			cfg := fastConfig(srv)
			cfg.Retries = 2
			c := newClient(t, cfg)
			srv.SetFaults(tt.faults)
			job, err := c.Submit(t.Context(), extract.Query{})
			st := srv.Stats()
			if st.Requests != tt.requests || st.Jobs != tt.jobs {
				t.Errorf("%d submissions sent and %d jobs created, want %d and %d", st.Requests, st.Jobs, tt.requests, tt.jobs)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Wait(t.Context(), job); err != nil {
				t.Fatalf("wait for the job of the answer that arrived: %v", err)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestMaxDownload(t *testing.T) {
	srv := newServer(t, sparktest.Options{})
	cfg := fastConfig(srv)
	cfg.MaxDownload = 100
	c := newClient(t, cfg)
	dir := t.TempDir()
	_, err := run(t.Context(), c, extract.Query{}, dir)
	if err == nil || !strings.Contains(err.Error(), "limit of 100 bytes") {
		t.Fatalf("err = %v, want the download limit error", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %d files behind", len(left))
	}
}

// TestMaxDownloadWithoutLength checks the bound on a streamed body whose size
// is not announced.
func TestMaxDownloadWithoutLength(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			w.Write(bytes.Repeat([]byte("x"), 100))
			w.(http.Flusher).Flush() // chunked: no Content-Length
		}
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", MaxDownload: 500})
	_, err := c.Download(t.Context(), extract.File{URL: ts.URL + "/f.xlsx"}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "limit of 500 bytes") {
		t.Fatalf("err = %v, want the download limit error", err)
	}
}

func TestDownloadNotAWorkbook(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>login page</html>")
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok"})
	dir := t.TempDir()
	_, err := c.Download(t.Context(), extract.File{URL: ts.URL + "/f.xlsx?sig=secret"}, dir)
	if err == nil || !strings.Contains(err.Error(), "neither an XLSX workbook nor a ZIP") {
		t.Fatalf("err = %v, want a not-a-workbook error", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the link's query", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %d files behind", len(left))
	}
}

func TestLogsHideSecrets(t *testing.T) {
	srv := newServer(t, sparktest.Options{SignedFileURLs: true})
	var buf bytes.Buffer
	cfg := fastConfig(srv)
	cfg.Token = srv.Token
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv.SetFaults(sparktest.Faults{ServerErrors: 1})
	c := newClient(t, cfg)
	if _, err := run(t.Context(), c, extract.Query{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	if !strings.Contains(logs, "/files/") {
		t.Fatalf("no download logged:\n%s", logs)
	}
	for _, secret := range []string{"Bearer", "sig=", "token=" + srv.Token} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  extract.Config
		want string
	}{
		{"no base URL", extract.Config{Tenant: "t", Token: "x"}, "BaseURL"},
		{"bad base URL", extract.Config{BaseURL: "excel.x.coherent.global", Tenant: "t", Token: "x"}, "SPARK_URL"},
		{"no tenant", extract.Config{BaseURL: "https://excel.x.coherent.global", Token: "x"}, "SPARK_TENANT"},
		{"no credentials", extract.Config{BaseURL: "https://excel.x.coherent.global", Tenant: "t"}, "no credentials"},
		{"both credentials", extract.Config{BaseURL: "https://excel.x.coherent.global", Tenant: "t", Token: "x", ClientID: "a", ClientSecret: "b"}, "not both"},
		{"half credentials", extract.Config{BaseURL: "https://excel.x.coherent.global", Tenant: "t", ClientID: "a"}, "both ClientID and ClientSecret"},
		{"no token URL", extract.Config{BaseURL: "https://10.1.2.3:8443", Tenant: "t", ClientID: "a", ClientSecret: "b"}, "token URL"},
		{"bad trusted host", extract.Config{BaseURL: "https://excel.x.coherent.global", Tenant: "t", Token: "x", TrustedHosts: []string{"https://h/"}}, "TrustedHosts"},
		{"control character in token", extract.Config{BaseURL: "https://excel.x.coherent.global", Tenant: "t", Token: "ab\x00c"}, "SPARK_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := extract.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// A token read from a file keeps its trailing newline, and one copied from
// a browser's request may keep its "Bearer " prefix: both are trimmed, not
// sent to fail as an invalid header or a "Bearer Bearer" token.
func TestTokenIsTrimmed(t *testing.T) {
	for _, tok := range []string{"%s\r\n", "Bearer %s", " bearer   %s\n", "BEARER\t%s"} {
		t.Run(fmt.Sprintf("%q", tok), func(t *testing.T) {
			srv := newServer(t, sparktest.Options{})
			cfg := fastConfig(srv)
			cfg.Token = fmt.Sprintf(tok, srv.Token)
			if _, err := run(t.Context(), newClient(t, cfg), extract.Query{}, t.TempDir()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A base URL copied from Spark's UI ends in the tenant; requests still go
// to /{tenant}/api/..., not /{tenant}/{tenant}/api/....
func TestBaseURLEndingInTenant(t *testing.T) {
	for _, suffix := range []string{"/tenant", "/tenant/", "/TENANT"} {
		t.Run(suffix, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{})
			cfg := fastConfig(srv)
			cfg.BaseURL = srv.URL + suffix
			if _, err := run(t.Context(), newClient(t, cfg), extract.Query{}, t.TempDir()); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Only a last segment naming the tenant goes: a proxy's path stays.
	var paths []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		fmt.Fprint(w, `{"id":"j"}`)
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL + "/spark/acme", Tenant: "acme", Token: "tok"})
	if _, err := c.Submit(t.Context(), extract.Query{}); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != "/spark/acme/api/v4/events/download" {
		t.Errorf("paths = %q, want /spark/acme/api/v4/events/download", paths)
	}
}

func TestDefaultTokenURL(t *testing.T) {
	tests := []struct {
		base, tenant, want string
	}{
		{"https://excel.myenv.coherent.global", "acme", "https://keycloak.myenv.coherent.global/auth/realms/acme/protocol/openid-connect/token"},
		{"https://excel.uat.us.coherent.global/", "acme", "https://keycloak.uat.us.coherent.global/auth/realms/acme/protocol/openid-connect/token"},
		{"https://myenv.coherent.global/acme", "acme", "https://keycloak.myenv.coherent.global/auth/realms/acme/protocol/openid-connect/token"},
		{"https://EXCEL.Sit.Coherent.Global:443", "acme", "https://keycloak.sit.coherent.global/auth/realms/acme/protocol/openid-connect/token"},
		{"https://spark.example.com", "acme", "https://keycloak.example.com/auth/realms/acme/protocol/openid-connect/token"},
		{"https://excel.uat.us.coherent.global/acme", "acme", "https://keycloak.uat.us.coherent.global/auth/realms/acme/protocol/openid-connect/token"},
		{"https://excel.coherent.global", "acme", ""},
		{"https://10.1.2.3", "acme", ""},
		{"https://[::1]:8443", "acme", ""},
		{"http://localhost:8080", "acme", ""},
		{"https://example.com", "acme", ""},
		{"https://excel.myenv.coherent.global", "", ""},
	}
	for _, tt := range tests {
		got, err := extract.DefaultTokenURL(tt.base, tt.tenant)
		if tt.want == "" {
			if err == nil {
				t.Errorf("DefaultTokenURL(%q) = %q, want an error", tt.base, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("DefaultTokenURL(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
		}
	}
}

// xlsxBytes is a minimal real workbook.
func xlsxBytes(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	f.SetCellValue("Sheet1", "A1", "hello")
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type member struct {
	name string
	data []byte
}

func repeat(m member, n int) []member {
	ms := make([]member, n)
	for i := range ms {
		ms[i] = m
	}
	return ms
}

func zipBytes(t *testing.T, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.Create(m.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpack(t *testing.T) {
	book := xlsxBytes(t)
	tests := []struct {
		name    string
		data    []byte
		max     int64
		want    []string // base names written in the output dir; nil with wantErr
		wantErr string
	}{
		{"plain xlsx (named .zip)", book, 0, []string{"<input>"}, ""},
		{"zip of xlsx", zipBytes(t, member{"a.xlsx", book}, member{"sub/b.XLSX", book}, member{"readme.txt", []byte("hi")}), 0, []string{"a.xlsx", "b.XLSX"}, ""},
		{"same name twice", zipBytes(t, member{"x/a.xlsx", book}, member{"y/a.xlsx", book}), 0, []string{"a.xlsx", "a-1.xlsx"}, ""},
		{"path traversal", zipBytes(t, member{"../../evil.xlsx", book}, member{"/abs/root.xlsx", book}, member{`..\..\win.xlsx`, book}), 0, []string{"evil.xlsx", "root.xlsx", "win.xlsx"}, ""},
		{"garbage", []byte("this is not a zip"), 0, nil, "neither an XLSX workbook nor a ZIP"},
		{"cut short", book[:len(book)/2], 0, nil, "truncated or damaged ZIP (an XLSX is one): download it again"},
		{"empty", nil, 0, nil, "neither an XLSX workbook nor a ZIP"},
		{"zip without xlsx", zipBytes(t, member{"a.csv", []byte("a,b")}), 0, nil, "no .xlsx workbook"},
		{"member not a workbook", zipBytes(t, member{"a.xlsx", []byte("fake")}), 0, nil, "not an XLSX workbook"},
		{"zip bomb", zipBytes(t, member{"a.xlsx", book}, member{"bomb.xlsx", make([]byte, 1<<20)}), 64 << 10, nil, "exceeds the limit of 65536 bytes"},
		{"same name many times", zipBytes(t, member{"x/a.xlsx", book}, member{"y/a.xlsx", book}, member{"a.xlsx", book}, member{"b.xlsx", book}), 0, []string{"a.xlsx", "a-1.xlsx", "a-2.xlsx", "b.xlsx"}, ""},
		{"too many workbooks", zipBytes(t, repeat(member{"d/a.xlsx", nil}, extract.MaxZipWorkbooks+1)...), 0, nil, "holds 1001 workbooks, more than the 1000"},
		{"too many members", zipBytes(t, repeat(member{"a.txt", nil}, extract.MaxZipEntries+1)...), 0, nil, "has 10001 members, more than the 10000"},
		{"too many members, as an XLSX", zipBytes(t, append(repeat(member{"a.txt", nil}, extract.MaxZipEntries), member{"[Content_Types].xml", nil})...), 0, nil, "has 10001 members, more than the 10000"},
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := extract.Unpack(filepath.Join(t.TempDir(), "nope.xlsx"), t.TempDir(), 0)
		if !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "neither") {
			t.Fatalf("err = %v, want a not-found error, not a content one", err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "download.zip")
			if err := os.WriteFile(in, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			dir := filepath.Join(root, "a", "b")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			paths, err := extract.Unpack(in, dir, tt.max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range paths {
				if p == in {
					got = append(got, "<input>")
					continue
				}
				if filepath.Dir(p) != dir {
					t.Errorf("%s written outside %s", p, dir)
				}
				got = append(got, filepath.Base(p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			// Nothing may land anywhere else under root, and an error leaves nothing.
			var all []string
			filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					all = append(all, p)
				}
				return nil
			})
			wantFiles := len(got)
			if slices.Contains(got, "<input>") {
				wantFiles--
			}
			if len(all) != wantFiles {
				t.Errorf("files under the output root = %v, want %d", all, wantFiles)
			}
		})
	}
}

func TestHeadersAndStatusURLFallback(t *testing.T) {
	var (
		mu   sync.Mutex
		hdrs []http.Header
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hdrs = append(hdrs, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/acme/api/v4/events/download":
			fmt.Fprint(w, `{"object":"events","id":"j-1","status_url":""}`)
		case r.URL.Path == "/acme/api/v4/events/download/j-1/status":
			fmt.Fprint(w, `{"status":"Success","outputs":{"files":[{"file":"/f/a.xlsx"}]},"error":null}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL + "/", Tenant: "acme", Token: "tok", UserAgent: "sparkevents/0.1.0"})
	job, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if want := ts.URL + "/acme/api/v4/events/download/j-1/status"; job.StatusURL != want || job.ID != "j-1" {
		t.Errorf("job = %+v, want status URL %s", job, want)
	}
	files, err := c.Wait(t.Context(), job)
	if err != nil || len(files) != 1 || files[0].URL != ts.URL+"/f/a.xlsx" {
		t.Fatalf("Wait = %v, %v; want the one file", files, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hdrs) != 2 {
		t.Fatalf("%d requests, want 2", len(hdrs))
	}
	ids := map[string]bool{}
	for _, h := range hdrs {
		if h.Get("Authorization") != "Bearer tok" || h.Get("X-Tenant-Name") != "acme" || h.Get("User-Agent") != "sparkevents/0.1.0" {
			t.Errorf("headers = %v", h)
		}
		id := h.Get("X-Request-Id")
		if len(id) != 36 || strings.Count(id, "-") != 4 || ids[id] {
			t.Errorf("x-request-id %q is not a fresh UUID", id)
		}
		ids[id] = true
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		value    func() string
		maxWait  time.Duration
		min, max time.Duration
	}{
		{"seconds, capped", "Retry-After", func() string { return "3600" }, 10 * time.Millisecond, 0, time.Second},
		{"x-retry-after, capped", "X-Retry-After", func() string { return "3600" }, 10 * time.Millisecond, 0, time.Second},
		{"HTTP date, capped", "Retry-After", func() string { return time.Now().Add(time.Hour).UTC().Format(http.TimeFormat) }, 10 * time.Millisecond, 0, time.Second},
		// HTTP dates have whole seconds: now+2s waits between 1s and 2s.
		{"HTTP date, honoured", "Retry-After", func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 5 * time.Second, 900 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					w.Header().Set(tt.header, tt.value())
					http.Error(w, "slow down", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprint(w, `{"id":"j"}`)
			}))
			defer ts.Close()
			c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", MinRetryWait: time.Millisecond, MaxRetryWait: tt.maxWait})
			start := time.Now()
			if _, err := c.Submit(t.Context(), extract.Query{}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < tt.min || d > tt.max {
				t.Errorf("took %s, want between %s and %s", d, tt.min, tt.max)
			}
			if hits.Load() != 2 {
				t.Errorf("%d requests, want 2", hits.Load())
			}
		})
	}
}

func TestClientCredentialsRefreshOnlyOnce(t *testing.T) {
	var tokens, apiHits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			r.ParseForm()
			if r.PostForm.Get("client_id") != "cid" || r.PostForm.Get("client_secret") != "shh" || r.PostForm.Get("grant_type") != "client_credentials" {
				http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
				return
			}
			n := tokens.Add(1)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"t%d","token_type":"Bearer","expires_in":300}`, n)
			return
		}
		apiHits.Add(1)
		http.Error(w, "unauthorized", http.StatusUnauthorized) // the API refuses every token
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", ClientID: "cid", ClientSecret: "shh", TokenURL: ts.URL + "/token"})
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 || !strings.Contains(se.Hint, "client credentials") {
		t.Fatalf("err = %v, want a 401 with a client-credentials hint", err)
	}
	if tokens.Load() != 2 || apiHits.Load() != 2 {
		t.Errorf("%d tokens, %d API requests; want 2 and 2 (one refresh, one retry)", tokens.Load(), apiHits.Load())
	}
	if c.Requests() != 4 {
		t.Errorf("Requests() = %d, want 4 (token requests count)", c.Requests())
	}
}

func TestExpiredFileLink(t *testing.T) {
	srv := newServer(t, sparktest.Options{SignedFileURLs: true})
	c := newClient(t, fastConfig(srv))
	files := doneJob(t, c)
	bad := strings.Replace(files[0].URL, "sig=", "sig=0", 1)
	_, err := c.Download(t.Context(), extract.File{URL: bad}, t.TempDir())
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 403 || !strings.Contains(se.Hint, "pre-signed link may have expired") {
		t.Fatalf("err = %v, want a 403 about the link", err)
	}
	if strings.Contains(err.Error(), "sig=") || strings.Contains(se.URL, "?") {
		t.Errorf("error %q shows the link's query", err)
	}
}

// The client works under every plausible dialect of a tenant: it learns
// the forms of a filter Spark accepts, reads every status shape, carries
// a failed job's message, and never takes a job without a file for an
// empty window.
func TestEveryDialect(t *testing.T) {
	for _, d := range sparktest.Dialects() {
		t.Run(d.Name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{Dialect: d})
			cfg := fastConfig(srv)
			c := newClient(t, cfg)
			q := extract.Query{Start: t0, End: t0.Add(24 * time.Hour), FolderID: "f1", EventTypes: []string{"PublishEngine", "DownloadEngine"}}
			paths, err := run(t.Context(), c, q, t.TempDir())
			if err != nil {
				t.Fatalf("filtered sync: %v (rejected: %+v)", err, srv.Rejected())
			}
			if got := eventIDs(t, paths); !slices.Equal(got, []string{"e2", "e4"}) {
				t.Errorf("event ids = %v, want [e2 e4]", got)
			}
			want := extract.Dialect{EventTypes: d.EventTypes, FolderColumn: d.FolderColumn}
			if got := c.Dialect(); got != want {
				t.Errorf("learned dialect %+v, want %+v", got, want)
			}
			sub := srv.Submissions()[0]
			if sub.FolderColumn != d.FolderColumn || sub.EventTypesForm != d.EventTypes || !slices.Equal(sub.EventTypes, q.EventTypes) {
				t.Errorf("accepted submission %+v", sub)
			}
			if d.PageSizeKey != "none" && sub.PageSize != extract.DefaultPageSize {
				t.Errorf("server read page size %d from %q, want %d", sub.PageSize, sub.PageSizeKey, extract.DefaultPageSize)
			}
			if st := srv.Stats(); st.AuthHeadersSeenByFileHost != 0 {
				t.Errorf("file host saw the token %d times", st.AuthHeadersSeenByFileHost)
			}

			// Learned once: neither this client nor one seeded with what it
			// learned is refused again.
			refused := len(srv.Rejected())
			if _, err := c.Submit(t.Context(), q); err != nil {
				t.Fatal(err)
			}
			seeded := cfg
			seeded.Dialect = c.Dialect()
			if _, err := newClient(t, seeded).Submit(t.Context(), q); err != nil {
				t.Fatal(err)
			}
			if got := len(srv.Rejected()); got != refused {
				t.Errorf("%d more submissions refused after the dialect was learned", got-refused)
			}

			// A failed job carries Spark's message, whichever key it uses.
			srv.SetFaults(sparktest.Faults{FailJobs: "export quota exceeded"})
			_, err = run(t.Context(), c, q, t.TempDir())
			var je *extract.JobError
			if !errors.As(err, &je) || je.Message != "export quota exceeded" {
				t.Errorf("failed job: err = %v, want a JobError with Spark's message", err)
			}
			srv.SetFaults(sparktest.Faults{})

			// An empty window: a workbook, or a loud failure, never a
			// silent nothing.
			empty := extract.Query{Start: t0.Add(-48 * time.Hour), End: t0.Add(-24 * time.Hour)}
			short := cfg
			short.JobTimeout = 200 * time.Millisecond
			paths, err = run(t.Context(), newClient(t, short), empty, t.TempDir())
			switch d.EmptyWindow {
			case "nofile":
				if !errors.Is(err, extract.ErrJobTimeout) || !errors.Is(err, extract.ErrNoFile) || !strings.Contains(err.Error(), "no file to download") {
					t.Errorf("empty window without a file: %v, %v; want a job timeout saying no file came", paths, err)
				}
				// Within the job timeout, NoFileWait ends the wait.
				patient := cfg
				patient.JobTimeout, patient.NoFileWait = time.Minute, 100*time.Millisecond
				paths, err = run(t.Context(), newClient(t, patient), empty, t.TempDir())
				if !errors.Is(err, extract.ErrNoFile) || errors.Is(err, extract.ErrJobTimeout) {
					t.Errorf("empty window without a file: %v, %v; want ErrNoFile after NoFileWait, before the job timeout", paths, err)
				}
			default:
				if err != nil || len(paths) != 1 || filepath.Ext(paths[0]) != ".xlsx" {
					t.Errorf("empty window: %v, %v; want one workbook", paths, err)
				}
			}
		})
	}
}

// With FixDialect the client sends the configured forms only, even when
// Spark refuses them.
func TestFixDialect(t *testing.T) {
	srv := newServer(t, sparktest.Options{Dialect: sparktest.Dialect{EventTypes: "array"}})
	cfg := fastConfig(srv)
	cfg.Dialect, cfg.FixDialect = extract.Dialect{EventTypes: extract.EventTypesString}, true
	c := newClient(t, cfg)
	_, err := c.Submit(t.Context(), extract.Query{EventTypes: []string{"SparkLogin"}})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(se.Body, "event_types must be an array") {
		t.Fatalf("err = %v, want the 400", err)
	}
	if n := len(srv.Rejected()); n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
	if got := c.Dialect(); got.EventTypes != extract.EventTypesString {
		t.Errorf("Dialect() = %+v, want the fixed form", got)
	}
}

// A query Spark refuses for a reason no form cures is tried in each form
// once, and the error shows the first refusal and the last.
func TestSubmitRefusedInEveryForm(t *testing.T) {
	var bodies []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(bytes.Buffer)
		b.ReadFrom(r.Body)
		bodies = append(bodies, b.String())
		http.Error(w, fmt.Sprintf(`{"message":"refusal %d"}`, len(bodies)), http.StatusBadRequest)
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok"})
	_, err := c.Submit(t.Context(), extract.Query{FolderID: "f", EventTypes: []string{"A"}})
	var se *extract.StatusError
	if !errors.As(err, &se) || !strings.Contains(se.Body, "refusal 1") || !strings.Contains(err.Error(), "refusal 3") {
		t.Fatalf("err = %v, want the first refusal as its StatusError and the last in its text", err)
	}
	if len(bodies) != 3 || !strings.Contains(bodies[1], `"value":["A"]`) || !strings.Contains(bodies[2], `"folderId"`) {
		t.Errorf("bodies = %q, want the sample's, then event_types as an array, then folderId too", bodies)
	}
	if got := c.Dialect(); got != (extract.Dialect{}) {
		t.Errorf("Dialect() = %+v after refusals only, want nothing learned", got)
	}
}

// File links whose path holds a credential (entitystore's
// .../documents/versions/tokens/{secret}/{file}) never show it: not in any
// log line at any level, not in any error a download, poll or failure
// returns, even when the file host quotes the path it refused.
func TestSecretPathsNeverLeave(t *testing.T) {
	srv := newServer(t, sparktest.Options{Dialect: sparktest.Dialect{SecretPaths: true}, SignedFileURLs: true})
	var logs bytes.Buffer
	cfg := fastConfig(srv)
	cfg.Retries, cfg.IdleTimeout = 1, 100*time.Millisecond
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, cfg)
	var errs []error
	try := func(err error) {
		if err == nil {
			t.Error("a forced failure did not fail")
		}
		errs = append(errs, err)
	}

	dir := t.TempDir()
	paths, err := run(t.Context(), c, extract.Query{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	files := doneJob(t, c)
	link := files[0].URL
	srv.SetFaults(sparktest.Faults{ForbidFiles: 1})
	_, err = c.Download(t.Context(), files[0], dir)
	try(err)
	srv.SetFaults(sparktest.Faults{TruncateDownloads: 2})
	_, err = c.Download(t.Context(), files[0], dir)
	try(err)
	srv.SetFaults(sparktest.Faults{StallDownloads: 2})
	_, err = c.Download(t.Context(), files[0], dir)
	try(err)
	srv.SetFaults(sparktest.Faults{})
	// A *url.Error from net/http: nothing listens there.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	u, _ := url.Parse(link)
	_, err = c.Download(t.Context(), extract.File{URL: dead.URL + u.RequestURI()}, dir)
	try(err)
	// Status answers that quote the link: not JSON, a link that is not
	// http(s), a failed job whose message names it.
	for _, body := range []string{
		`{"status":"Success","outputs":{"files":[{"file":"` + link + `"`,
		`{"status":"Success","outputs":{"files":[{"file":"` + strings.Replace(link, "http://", "ftp://", 1) + `"}]}}`,
		`{"status":"Failed","error":"cannot write ` + link + `"}`,
	} {
		ts := statusServer(t, body)
		_, err = newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", Logger: cfg.Logger}).Wait(t.Context(), extract.Job{ID: "j", StatusURL: ts.URL + "/s"})
		try(err)
	}

	secrets := srv.FileSecrets()
	i := slices.IndexFunc(secrets, func(s string) bool { return strings.Contains(link, s) })
	if i < 0 {
		t.Fatalf("link %s holds none of the secrets %v", link, secrets)
	}
	sig := u.Query().Get("sig")
	for _, p := range paths {
		for _, s := range append(secrets, sig) {
			if strings.Contains(p, s) {
				t.Errorf("local path %s holds a secret", p)
			}
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var texts, fields []string
	for _, err := range errs {
		texts = append(texts, err.Error())
		var se *extract.StatusError
		if errors.As(err, &se) {
			fields = append(fields, se.URL, se.Body)
		}
	}
	if len(fields) == 0 || !strings.Contains(fields[1], "access denied to /docstore/") {
		t.Errorf("StatusError fields %q, want the 403's body quoting the path", fields)
	}
	for _, text := range slices.Concat(lines, texts, fields) {
		for _, s := range append(secrets, sig) {
			if strings.Contains(text, s) {
				t.Errorf("secret %s shows in %s", s, text)
			}
		}
	}
	// Redacted, a link keeps its host and file name.
	shown := strings.Replace(strings.Split(link, "?")[0], secrets[i], "[redacted]", 1)
	if !strings.Contains(texts[0], shown) || !strings.Contains(logs.String(), shown) {
		t.Errorf("no error or log shows the link as %s:\n%s\n%s", shown, texts[0], logs.String())
	}
	for i, want := range []string{"403", "truncated", "no data received", "connect", "not the expected JSON", "not an http(s) URL", "cannot write"} {
		if !strings.Contains(texts[i], want) {
			t.Errorf("error %d = %q, want it to say %q", i, texts[i], want)
		}
	}
}
