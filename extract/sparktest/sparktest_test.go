package sparktest_test

import (
	"archive/zip"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"sparkevents/extract/sparktest"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 123_000_000, time.UTC)

// call sends a request to the emulator the way a well-behaved client does,
// unless hdr overrides a header ("" deletes it).
func call(t *testing.T, srv *sparktest.Server, method, u, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	req.Header.Set("X-Tenant-Name", srv.Tenant)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

type status struct {
	Status  string `json:"status"`
	Outputs struct {
		Files []struct {
			File string `json:"file"`
		} `json:"files"`
	} `json:"outputs"`
	Error *string `json:"error"`
}

// export submits body and polls until the job leaves in_progress.
func export(t *testing.T, srv *sparktest.Server, body string) status {
	t.Helper()
	code, _, b := call(t, srv, "POST", srv.URL+"/"+srv.Tenant+"/api/v4/events/download", body, nil)
	if code != 200 {
		t.Fatalf("submit: %d %s", code, b)
	}
	var job struct{ Object, ID, StatusURL string }
	var raw map[string]string
	json.Unmarshal(b, &raw)
	job.Object, job.ID, job.StatusURL = raw["object"], raw["id"], raw["status_url"]
	if job.Object != "events" || job.ID == "" || !strings.HasPrefix(job.StatusURL, srv.URL+"/") {
		t.Fatalf("submit answer %s", b)
	}
	for range 10 {
		code, _, b := call(t, srv, "GET", job.StatusURL, "", nil)
		if code != 200 {
			t.Fatalf("status: %d %s", code, b)
		}
		var st status
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st.Status != "in_progress" {
			return st
		}
	}
	t.Fatal("job never finished")
	return status{}
}

// fetch downloads a file link without any Authorization header.
func fetch(t *testing.T, srv *sparktest.Server, link string) []byte {
	t.Helper()
	if !strings.HasPrefix(link, srv.FileURL+"/") {
		t.Fatalf("file link %s is not on the file host %s", link, srv.FileURL)
	}
	code, _, b := call(t, srv, "GET", link, "", map[string]string{"Authorization": "", "X-Tenant-Name": ""})
	if code != 200 {
		t.Fatalf("download: %d %s", code, b)
	}
	return b
}

func rowsOf(t *testing.T, data []byte) ([][]string, *excelize.File) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rows, err := f.GetRows(f.GetSheetList()[0], excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	return rows, f
}

func TestHostsDiffer(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{})
	defer srv.Close()
	a, _ := url.Parse(srv.URL)
	b, _ := url.Parse(srv.FileURL)
	if a.Hostname() == b.Hostname() || a.Port() == b.Port() {
		t.Errorf("API host %s and file host %s must differ in name and port", a.Host, b.Host)
	}
}

func TestWorkbookLayout(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{})
	defer srv.Close()
	srv.AddEvents(
		sparktest.Event{ID: "e2", Time: t0.Add(time.Minute), Type: "PublishEngine", User: "u", FolderID: "f", Folder: "F", Service: "s", Version: "1.0", Description: "d", IP: "10.0.0.1", Extra: map[string]string{"Zone": "eu"}},
		sparktest.Event{ID: "e1", Time: t0, Type: "SparkLogin", User: "u", Extra: map[string]string{"Agent": "cli"}},
	)
	st := export(t, srv, `{"page_no":1}`)
	if st.Status != "Success" || len(st.Outputs.Files) != 1 {
		t.Fatalf("status = %+v", st)
	}
	rows, _ := rowsOf(t, fetch(t, srv, st.Outputs.Files[0].File))
	want := [][]string{
		{sparktest.Title},
		nil,
		{"Event ID", "Timestamp", "Event Type", "User Name", "Folder ID", "Folder", "Service", "Version", "Description", "IP Address", "Agent", "Zone"},
		{"e1", "2026-03-02T10:00:00.123Z", "SparkLogin", "u", "", "", "", "", "", "", "cli"},
		{"e2", "2026-03-02T10:01:00.123Z", "PublishEngine", "u", "f", "F", "s", "1.0", "d", "10.0.0.1", "", "eu"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows = %q", rows)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i+1, rows[i], want[i])
		}
	}
}

func TestNumericTimes(t *testing.T) {
	for _, date1904 := range []bool{false, true} {
		srv := sparktest.NewServer(sparktest.Options{NumericTimes: true, Date1904: date1904, NoIDColumn: true})
		srv.AddEvents(sparktest.Event{Time: t0, Type: "SparkLogin"})
		st := export(t, srv, `{}`)
		rows, f := rowsOf(t, fetch(t, srv, st.Outputs.Files[0].File))
		srv.Close()
		if rows[2][0] != "Timestamp" {
			t.Fatalf("NoIDColumn: header = %q", rows[2])
		}
		// Not excelize.ExcelDateToTime: it rounds to whole seconds.
		epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
		if date1904 {
			epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		got := epoch.Add(time.Duration(math.Round(mustFloat(t, rows[3][0])*86400000)) * time.Millisecond)
		if d := got.Sub(t0); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("date1904=%v: serial %s is %s, want %s", date1904, rows[3][0], got, t0)
		}
		props, _ := f.GetWorkbookProps()
		if got := props.Date1904 != nil && *props.Date1904; got != date1904 {
			t.Errorf("workbook Date1904 = %v, want %v", props.Date1904, date1904)
		}
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

func TestFiltersAndCap(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{PageSize: 2})
	defer srv.Close()
	for i, typ := range []string{"A", "B", "A", "A", "A"} {
		srv.AddEvents(sparktest.Event{ID: string(rune('a' + i)), Time: t0.Add(time.Duration(i) * time.Hour), Type: typ, User: "u", FolderID: "f"})
	}
	body := `{"pageSize":10,"search":[
		{"column":"event_start_date","value":"2026-03-02T11:00:00.123Z"},
		{"column":"event_end_date","value":"2026-03-02T14:00:00.123Z"},
		{"column":"event_types","value":"[\"A\"]"},
		{"column":"folderId","value":"f"},
		{"column":"user_name","value":"u"}]}`
	st := export(t, srv, body)
	rows, _ := rowsOf(t, fetch(t, srv, st.Outputs.Files[0].File))
	var ids []string
	for _, r := range rows[3:] {
		ids = append(ids, r[0])
	}
	// b is type B; c, d, e match with both window ends inclusive; the cap
	// of 2 keeps the oldest.
	if strings.Join(ids, ",") != "c,d" {
		t.Errorf("ids = %v, want [c d]", ids)
	}
	sub := srv.Submissions()[0]
	if sub.PageSize != 10 || len(sub.EventTypes) != 1 || sub.Rows != 2 || sub.Search["folder_id"] != "f" {
		t.Errorf("submission = %+v", sub)
	}
}

func TestGuards(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "secret"})
	defer srv.Close()
	good := srv.URL + "/acme/api/v4/events/download"
	tests := []struct {
		name string
		url  string
		hdr  map[string]string
		want int
	}{
		{"ok", good, nil, 200},
		{"no token", good, map[string]string{"Authorization": ""}, 401},
		{"wrong token", good, map[string]string{"Authorization": "Bearer nope"}, 401},
		{"wrong tenant", srv.URL + "/other/api/v4/events/download", nil, 404},
		{"wrong x-tenant-name", good, map[string]string{"X-Tenant-Name": "other"}, 403},
	}
	for _, tt := range tests {
		if code, _, b := call(t, srv, "POST", tt.url, `{}`, tt.hdr); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, b, tt.want)
		}
	}
	if code, _, _ := call(t, srv, "POST", good, `{"search":[{"column":"event_start_date","value":"yesterday"}]}`, nil); code != 400 {
		t.Errorf("bad date: %d, want 400", code)
	}
}

func TestFileHost(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{SignedFileURLs: true})
	defer srv.Close()
	st := export(t, srv, `{}`)
	link := st.Outputs.Files[0].File
	if !strings.Contains(link, "?sig=") {
		t.Fatalf("link %s is not signed", link)
	}
	fetch(t, srv, link) // no bearer needed
	unsigned, _, _ := strings.Cut(link, "?")
	if code, _, _ := call(t, srv, "GET", unsigned, "", nil); code != 403 {
		t.Errorf("unsigned link: %d, want 403", code)
	}
	if got := srv.Stats().AuthHeadersSeenByFileHost; got != 1 {
		t.Errorf("AuthHeadersSeenByFileHost = %d, want 1 (the unsigned call sent one)", got)
	}
}

func TestZipFormat(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{Format: "zip"})
	defer srv.Close()
	srv.AddEvents(sparktest.Event{ID: "a", Time: t0, Type: "X"}, sparktest.Event{ID: "b", Time: t0, Type: "X"}, sparktest.Event{ID: "c", Time: t0, Type: "X"})
	st := export(t, srv, `{}`)
	data := fetch(t, srv, st.Outputs.Files[0].File)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		rows, _ := rowsOf(t, b)
		total += len(rows) - 3
	}
	if len(zr.File) != 2 || total != 3 {
		t.Errorf("%d workbooks with %d rows, want 2 with 3", len(zr.File), total)
	}
}

func TestFaults(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{PendingPolls: -1})
	defer srv.Close()
	srv.AddEvents(sparktest.Event{ID: "a", Time: t0, Type: "X"})
	u := srv.URL + "/" + srv.Tenant + "/api/v4/events/download"

	srv.SetFaults(sparktest.Faults{RateLimited: 2, ServerErrors: 1})
	code1, h1, _ := call(t, srv, "POST", u, `{}`, nil)
	code2, h2, _ := call(t, srv, "POST", u, `{}`, nil)
	code3, _, _ := call(t, srv, "POST", u, `{}`, nil)
	code4, _, _ := call(t, srv, "POST", u, `{}`, nil)
	if code1 != 429 || code2 != 429 || code3 != 500 || code4 != 200 {
		t.Errorf("codes = %d %d %d %d, want 429 429 500 200", code1, code2, code3, code4)
	}
	if h1.Get("Retry-After") != "1" || h2.Get("X-Retry-After") != "1" {
		t.Errorf("retry headers: %v / %v", h1, h2)
	}

	srv.SetFaults(sparktest.Faults{FailJobs: "broken"})
	if st := export(t, srv, `{}`); st.Status != "Failed" || st.Error == nil || *st.Error != "broken" {
		t.Errorf("failed job status = %+v", st)
	}

	// A stuck job finishes once the fault is cleared.
	srv.SetFaults(sparktest.Faults{StuckJobs: true})
	code, _, b := call(t, srv, "POST", u, `{}`, nil)
	var sub map[string]string
	if json.Unmarshal(b, &sub); code != 200 {
		t.Fatalf("submit: %d", code)
	}
	for range 3 {
		if _, _, b := call(t, srv, "GET", sub["status_url"], "", nil); !bytes.Contains(b, []byte(`"in_progress"`)) {
			t.Fatalf("stuck job answered %s", b)
		}
	}
	srv.SetFaults(sparktest.Faults{})
	if _, _, b := call(t, srv, "GET", sub["status_url"], "", nil); !bytes.Contains(b, []byte(`"Success"`)) {
		t.Fatalf("released job answered %s", b)
	}

	srv.SetFaults(sparktest.Faults{TruncateDownloads: 1})
	st := export(t, srv, `{}`)
	resp, err := http.Get(st.Outputs.Files[0].File)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != io.ErrUnexpectedEOF {
		t.Errorf("truncated download read error = %v, want unexpected EOF", err)
	}
	if s := srv.Stats(); s.Jobs != 4 || s.Downloads != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestClientCredentialsEndpoint(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{ClientID: "cid", ClientSecret: "shh", TokenTTL: time.Minute})
	defer srv.Close()
	post := func(secret string) (int, map[string]any) {
		resp, err := http.PostForm(srv.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := post("bad"); code != 401 {
		t.Errorf("bad secret: %d, want 401", code)
	}
	code, m := post("shh")
	tok, _ := m["access_token"].(string)
	if code != 200 || tok == "" || m["expires_in"] != float64(60) {
		t.Fatalf("token answer %d %v", code, m)
	}
	u := srv.URL + "/" + srv.Tenant + "/api/v4/events/download"
	if code, _, _ := call(t, srv, "POST", u, `{}`, map[string]string{"Authorization": "Bearer " + tok}); code != 200 {
		t.Errorf("issued token refused: %d", code)
	}
	srv.RevokeTokens()
	if code, _, _ := call(t, srv, "POST", u, `{}`, map[string]string{"Authorization": "Bearer " + tok}); code != 401 {
		t.Errorf("revoked token: %d, want 401", code)
	}
}

// submit posts body and returns the answer's code and decoded JSON.
func submit(t *testing.T, srv *sparktest.Server, body string) (int, map[string]any) {
	t.Helper()
	code, _, b := call(t, srv, "POST", srv.URL+"/"+srv.Tenant+"/api/v4/events/download", body, nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return code, m
}

// poll answers the status of the job submitted with body, after n polls.
func poll(t *testing.T, srv *sparktest.Server, body string, n int) map[string]any {
	t.Helper()
	code, job := submit(t, srv, body)
	if code != 200 {
		t.Fatalf("submit: %d %v", code, job)
	}
	var m map[string]any
	for range n {
		_, _, b := call(t, srv, "GET", job["status_url"].(string), "", nil)
		m = nil
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestDialectPageSizeKey(t *testing.T) {
	tests := []struct {
		key     string
		wantKey string
		want    int // the page size read
		rows    int // of 5 events, under a hidden cap of 4
	}{
		{"", "pageSize", 2, 2},
		{"pageSize", "pageSize", 2, 2},
		{"page_size", "page_size", 3, 3},
		{"none", "", 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			srv := sparktest.NewServer(sparktest.Options{PageSize: 4, Dialect: sparktest.Dialect{PageSizeKey: tt.key}})
			defer srv.Close()
			for i := range 5 {
				srv.AddEvents(sparktest.Event{ID: string(rune('a' + i)), Time: t0.Add(time.Duration(i) * time.Hour), Type: "X"})
			}
			export(t, srv, `{"pageSize":2,"page_size":3}`)
			sub := srv.Submissions()[0]
			if sub.PageSize != tt.want || sub.PageSizeKey != tt.wantKey || sub.Rows != tt.rows {
				t.Errorf("page size %d from %q, %d rows; want %d from %q, %d rows", sub.PageSize, sub.PageSizeKey, sub.Rows, tt.want, tt.wantKey, tt.rows)
			}
		})
	}
}

func TestDialectRejectsTheOtherSpelling(t *testing.T) {
	const (
		folderID   = `{"column":"folder_id","value":"f"}`
		folderId   = `{"column":"folderId","value":"f"}`
		typesStr   = `{"column":"event_types","value":"[\"A\"]"}`
		typesArray = `{"column":"event_types","value":["A"]}`
	)
	tests := []struct {
		name    string
		dialect sparktest.Dialect
		item    string
		wantErr string // "" = accepted
		form    string // Submission.FolderColumn or EventTypesForm
	}{
		{"folderId server, folderId", sparktest.Dialect{FolderColumn: "folderId"}, folderId, "", "folderId"},
		{"folderId server, folder_id", sparktest.Dialect{FolderColumn: "folderId"}, folderID, `unknown search column \"folder_id\"`, "folder_id"},
		{"folder_id server, folderId", sparktest.Dialect{FolderColumn: "folder_id"}, folderId, `unknown search column \"folderId\"`, "folderId"},
		{"strict server, unknown column", sparktest.Dialect{FolderColumn: "folder_id"}, `{"column":"colour","value":"x"}`, "unknown search column", ""},
		{"lenient server, either folder", sparktest.Dialect{}, folderId, "", "folderId"},
		{"array server, array", sparktest.Dialect{EventTypes: "array"}, typesArray, "", "array"},
		{"array server, string", sparktest.Dialect{EventTypes: "array"}, typesStr, "event_types must be an array", "string"},
		{"string server, array", sparktest.Dialect{EventTypes: "string"}, typesArray, "event_types must be a string", "array"},
		{"string server, string", sparktest.Dialect{EventTypes: "string"}, typesStr, "", "string"},
		{"lenient server, either types", sparktest.Dialect{}, typesArray, "", "array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sparktest.NewServer(sparktest.Options{Dialect: tt.dialect})
			defer srv.Close()
			code, m := submit(t, srv, `{"search":[`+tt.item+`]}`)
			if tt.wantErr == "" {
				if code != 200 || len(srv.Submissions()) != 1 || len(srv.Rejected()) != 0 {
					t.Fatalf("%d %v, want the job accepted", code, m)
				}
				sub := srv.Submissions()[0]
				if got := sub.FolderColumn + sub.EventTypesForm; got != tt.form {
					t.Errorf("form seen = %q, want %q", got, tt.form)
				}
				return
			}
			msg, _ := m["message"].(string)
			b, _ := json.Marshal(msg)
			if code != 400 || !strings.Contains(string(b), tt.wantErr) {
				t.Fatalf("%d %v, want 400 saying %s", code, m, tt.wantErr)
			}
			rej := srv.Rejected()
			if len(srv.Submissions()) != 0 || len(rej) != 1 || rej[0].Error != msg {
				t.Errorf("submissions %v, rejected %+v; want only the rejection", srv.Submissions(), rej)
			}
			if tt.form != "" && rej[0].FolderColumn+rej[0].EventTypesForm != tt.form {
				t.Errorf("rejection recorded form %+v, want %q", rej[0], tt.form)
			}
		})
	}
}

func TestDialectStatusShapes(t *testing.T) {
	t.Run("response_data", func(t *testing.T) {
		srv := sparktest.NewServer(sparktest.Options{PendingPolls: 1, Dialect: sparktest.Dialect{Status: "response_data"}})
		defer srv.Close()
		srv.AddEvents(sparktest.Event{ID: "a", Time: t0, Type: "X"})
		running := poll(t, srv, `{}`, 1)
		rd, _ := running["response_data"].(map[string]any)
		if running["status"] != "Success" || rd == nil || rd["progress"].(float64) >= 100 || rd["status"] != "in_progress" || rd["download_url"] != "" {
			t.Errorf("running job answered %v, want Success with response_data in progress", running)
		}
		done := poll(t, srv, `{}`, 2)
		rd, _ = done["response_data"].(map[string]any)
		if rd == nil || rd["progress"] != float64(100) || rd["job_id"] != srv.Submissions()[1].ID || done["outputs"] != nil {
			t.Fatalf("finished job answered %v", done)
		}
		rows, _ := rowsOf(t, fetch(t, srv, rd["download_url"].(string)))
		if len(rows) != 4 || rows[3][0] != "a" {
			t.Errorf("rows = %q", rows)
		}
	})
	t.Run("errors", func(t *testing.T) {
		srv := sparktest.NewServer(sparktest.Options{PendingPolls: -1, Dialect: sparktest.Dialect{ErrorKey: "errors"}})
		defer srv.Close()
		srv.SetFaults(sparktest.Faults{FailJobs: "quota"})
		m := poll(t, srv, `{}`, 1)
		errs, _ := m["errors"].([]any)
		if m["status"] != "completed" || m["error"] != nil || len(errs) != 1 || errs[0].(map[string]any)["message"] != "quota" {
			t.Errorf("failed job answered %v, want completed with errors [quota]", m)
		}
		if files := m["outputs"].(map[string]any)["files"].([]any); len(files) != 0 {
			t.Errorf("failed job lists files %v", files)
		}
	})
}

func TestDialectEmptyWindow(t *testing.T) {
	for _, tt := range []struct {
		empty string
		rows  int // rows of the workbook; -1 = no file
	}{{"", 3}, {"header", 3}, {"blank", 0}, {"nofile", -1}} {
		t.Run(tt.empty, func(t *testing.T) {
			srv := sparktest.NewServer(sparktest.Options{Dialect: sparktest.Dialect{EmptyWindow: tt.empty}})
			defer srv.Close()
			st := export(t, srv, `{}`)
			if st.Status != "Success" {
				t.Fatalf("status %+v", st)
			}
			if tt.rows < 0 {
				if len(st.Outputs.Files) != 0 {
					t.Errorf("files %v, want none", st.Outputs.Files)
				}
				return
			}
			rows, _ := rowsOf(t, fetch(t, srv, st.Outputs.Files[0].File))
			if len(rows) != tt.rows {
				t.Errorf("rows %q, want %d", rows, tt.rows)
			}
		})
	}
}

func TestDialectSecretPaths(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{Dialect: sparktest.Dialect{SecretPaths: true}})
	defer srv.Close()
	srv.AddEvents(sparktest.Event{ID: "a", Time: t0, Type: "X"})
	link := export(t, srv, `{}`).Outputs.Files[0].File
	secrets := srv.FileSecrets()
	if len(secrets) != 1 || link != srv.FileURL+"/docstore/api/v1/documents/versions/tokens/"+secrets[0]+"/"+path.Base(link) || len(secrets[0]) < 24 {
		t.Fatalf("link %s, secrets %v: want the secret as the path segment after tokens/", link, secrets)
	}
	fetch(t, srv, link)
	noAuth := map[string]string{"Authorization": "", "X-Tenant-Name": ""}
	other := "x" // a first character the secret does not have
	if secrets[0][0] == 'x' {
		other = "y"
	}
	wrong := strings.Replace(link, secrets[0], other+secrets[0][1:], 1)
	if code, _, _ := call(t, srv, "GET", wrong, "", noAuth); code != 403 {
		t.Errorf("wrong secret: %d, want 403", code)
	}
	jobID := srv.Submissions()[0].ID
	if code, _, _ := call(t, srv, "GET", srv.FileURL+"/files/"+jobID+"/"+path.Base(link), "", noAuth); code != 403 {
		t.Errorf("no secret: %d, want 403", code)
	}
	srv.SetFaults(sparktest.Faults{ForbidFiles: 1})
	if code, _, b := call(t, srv, "GET", link, "", noAuth); code != 403 || !strings.Contains(string(b), secrets[0]) {
		t.Errorf("ForbidFiles: %d %s, want a 403 quoting the path", code, b)
	}
}

func TestDialects(t *testing.T) {
	names := map[string]bool{}
	for _, d := range sparktest.Dialects() {
		if d.Name == "" || names[d.Name] {
			t.Errorf("dialect %+v has no name or a duplicate one", d)
		}
		names[d.Name] = true
		if d.PageSizeKey == "" || d.FolderColumn == "" || d.EventTypes == "" || d.Status == "" || d.ErrorKey == "" || d.EmptyWindow == "" {
			t.Errorf("dialect %s is lenient somewhere: %+v", d.Name, d)
		}
		sparktest.NewServer(sparktest.Options{Dialect: d}).Close()
	}
	defer func() {
		if recover() == nil {
			t.Error("NewServer accepted an unknown Dialect value")
		}
	}()
	sparktest.NewServer(sparktest.Options{Dialect: sparktest.Dialect{EventTypes: "Array"}})
}

func TestPeriodicFaults(t *testing.T) {
	srv := sparktest.NewServer(sparktest.Options{PendingPolls: -1, RetryAfter: 50 * time.Millisecond})
	defer srv.Close()
	u := srv.URL + "/" + srv.Tenant + "/api/v4/events/download"
	srv.SetFaults(sparktest.Faults{RateLimitEvery: 3, ServerErrorEvery: 4})
	var codes []int
	var waits []string
	for range 12 {
		code, h, _ := call(t, srv, "POST", u, `{}`, nil)
		codes = append(codes, code)
		if code == 429 {
			waits = append(waits, h.Get("Retry-After")+h.Get("X-Retry-After"))
		}
	}
	// Every 3rd is a 429, every 4th a 500, the 12th both: the 429 wins.
	want := []int{200, 200, 429, 500, 200, 429, 200, 500, 429, 200, 200, 429}
	if !slices.Equal(codes, want) {
		t.Errorf("codes = %v, want %v", codes, want)
	}
	if !slices.Equal(waits, []string{"0.05", "0.05", "0.05", "0.05"}) {
		t.Errorf("retry waits = %q, want 0.05 each", waits)
	}
}

func TestJobLimit(t *testing.T) {
	for _, code := range []int{0, 400} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := sparktest.NewServer(sparktest.Options{PendingPolls: 1, JobLimit: 1, JobLimitStatus: code})
			defer srv.Close()
			u := srv.URL + "/" + srv.Tenant + "/api/v4/events/download"
			submit := func() (int, string, string) {
				code, _, b := call(t, srv, "POST", u, `{}`, nil)
				var m map[string]any
				json.Unmarshal(b, &m)
				id, _ := m["id"].(string)
				msg, _ := m["message"].(string)
				return code, id, msg
			}
			if code, _, _ := submit(); code != 200 {
				t.Fatalf("first submission: %d", code)
			}
			wantCode := cmp.Or(code, 409)
			got, _, msg := submit()
			if got != wantCode || msg != "Only 1 job can be executed at once" {
				t.Fatalf("second submission: %d %q, want %d and the job-limit message", got, msg, wantCode)
			}
			// Polled to its end, the first job frees its place.
			sub := srv.Submissions()[0]
			statusURL := u + "/" + sub.ID + "/status"
			for range 2 {
				call(t, srv, "GET", statusURL, "", nil)
			}
			if got, _, _ := submit(); got != 200 {
				t.Fatalf("submission after the first job finished: %d", got)
			}
			if st := srv.Stats(); st.Jobs != 2 || st.JobsRefused != 1 || st.MaxUnfinished != 1 {
				t.Errorf("stats = %+v, want 2 jobs, 1 refused, at most 1 unfinished", st)
			}
		})
	}
}
