// Package sparktest runs an in-process emulator of the Spark Events API for
// tests, in the spirit of net/http/httptest: an API host that takes export
// jobs and answers status polls, a token endpoint for client credentials,
// and a separate file host that serves the workbooks, with faults to inject.
//
// The API host is http://127.0.0.1:port and the file host
// http://localhost:port2: different host names and ports, so that a client
// can be checked never to send its bearer token to the file host.
package sparktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Event is one event the emulator can export.
type Event struct {
	ID          string
	Time        time.Time
	Type        string
	User        string
	FolderID    string
	Folder      string
	Service     string
	Version     string
	Description string
	IP          string
	// Extra become extra columns, headed by their keys.
	Extra map[string]string
}

// Options shape the emulator. The zero value is usable: tenant "tenant",
// token "token", one pending poll, XLSX files, no row cap.
type Options struct {
	Tenant, Token string
	// ClientID and ClientSecret, when set, are accepted by the token
	// endpoint at Server.TokenURL, which issues tokens valid for TokenTTL
	// (default 1h).
	ClientID, ClientSecret string
	TokenTTL               time.Duration
	// PendingPolls is how many status polls a job answers "in_progress"
	// before it succeeds (default 1; negative = none).
	PendingPolls int
	// PageSize caps the rows of a job (Spark may cap them): a job exports at
	// most min(requested page size, PageSize) rows; 0 = no cap.
	PageSize int
	// Format is "xlsx" (default) or "zip": a ZIP holding the workbook, split
	// in two workbooks when it has two rows or more.
	Format string
	// Files splits a job's rows across this many output files (default 1).
	Files      int
	NoIDColumn bool // workbooks without an "Event ID" column
	// NumericTimes writes times as Excel serial numbers with a date format,
	// in the 1904 date system when Date1904 is set; else as ISO 8601 text.
	Date1904, NumericTimes bool
	// SignedFileURLs gives file links their own token (?sig=...); the file
	// host then refuses links without a valid one. Either way it never
	// requires a bearer token.
	SignedFileURLs bool
	// ExclusiveBounds leaves out events exactly on event_start_date or
	// event_end_date (by default both bounds are inclusive): Spark does
	// not document which it does.
	ExclusiveBounds bool
	// DownloadURL answers a finished job with a top-level download_url, as
	// the prose of Spark's page says, instead of its sample's
	// outputs.files; a job then has one output file (Files is ignored).
	// It is Dialect.Status "download_url".
	DownloadURL bool
	// ParametersSheet adds a second sheet, "Filters", of label and value
	// rows (who exported, which event types), as an export may carry
	// beside its events.
	ParametersSheet bool
	// ForeignStatusURL makes a submitted job's status_url name the API
	// host as "localhost" instead of 127.0.0.1: another host name for the
	// same server, as Spark's sample answers differ in host.
	ForeignStatusURL bool
	// Dialect makes the emulator strict about the forms Spark's page
	// leaves open; the zero Dialect accepts them all.
	Dialect Dialect
	// JobLimit, when positive, is how many unfinished jobs the tenant
	// allows, as a tenant's ExportAPIJobLimit does: a submission beyond it
	// is refused with JobLimitStatus (default 409) and "Only 1 job can be
	// executed at once". A job is unfinished until a status poll has
	// answered it finished (Success with files, or Failed): a job nobody
	// polls stays unfinished, as one Spark is still working on.
	JobLimit       int
	JobLimitStatus int
	// RetryAfter is the wait the rate-limit faults ask for (default 1s).
	// Below a second it is sent as fractional seconds ("0.05"), which
	// Retry-After's grammar does not allow: a test convenience.
	RetryAfter time.Duration
}

// Faults are failures to inject; counters count down as they fire.
type Faults struct {
	RateLimited  int // next N requests get 429 with Retry-After: 1 (alternating with x-retry-after: 1)
	ServerErrors int // next N requests get 500
	// FailJobs, while set, makes jobs end "Failed" with this error message.
	FailJobs string
	// StuckJobs, while set, keeps every job "in_progress".
	StuckJobs bool
	// TruncateDownloads cuts the next N downloads in half while their
	// Content-Length announces the full size.
	TruncateDownloads int
	// StallDownloads makes the next N downloads send their headers and half
	// their body, then nothing until the client gives up or the server
	// closes.
	StallDownloads int
	// FilesLate makes the next N status answers of finished jobs say
	// "Success" without any file link yet.
	FilesLate int
	// CutPolls cuts the next N status answers in half while their
	// Content-Length announces the full size; StallPolls sends the next N
	// half, then nothing, as StallDownloads does. A broken answer uses up
	// no other fault.
	CutPolls, StallPolls int
	// CutSubmits cuts the answers to the next N submissions in half, after
	// their jobs were created, as a dropped connection would.
	CutSubmits int
	// ForbidFiles answers the next N file downloads 403, with a message
	// that quotes the path asked for, secret segment included, as some
	// file hosts do.
	ForbidFiles int
	// RateLimitEvery and ServerErrorEvery, when positive, answer every Nth
	// request (token requests aside, counted from SetFaults) with a 429
	// and a retry header, or with a 500. They are never used up; a
	// request that is both gets the 429.
	RateLimitEvery, ServerErrorEvery int
}

// Stats count what the emulator saw.
type Stats struct {
	Requests  int // every request to either host, token requests included
	Jobs      int // jobs submitted
	Polls     int // status polls
	Downloads int // file downloads served (truncated ones included)
	Tokens    int // tokens issued by the token endpoint
	// AuthHeadersSeenByFileHost counts file-host requests that carried an
	// Authorization header: a client must never send its token there.
	AuthHeadersSeenByFileHost int
	// JobsRefused counts submissions refused by Options.JobLimit, and
	// MaxUnfinished is the most jobs that were unfinished at once.
	JobsRefused, MaxUnfinished int
}

// Submission is one export job as the emulator received it.
type Submission struct {
	ID   string
	Body json.RawMessage // the request body, verbatim
	// PageSize is the requested page size (pageSize, else page_size; 0 if none).
	PageSize   int
	SortColumn string
	SortOrder  string
	// Search maps each search column to its value; event_types is decoded
	// into EventTypes as well.
	Search     map[string]string
	Start, End time.Time // zero when absent
	EventTypes []string
	Rows       int // rows exported

	// What the emulator made of the forms Spark's page leaves open:
	PageSizeKey    string // the key PageSize was read from; "" when none was
	FolderColumn   string // the folder column sent ("folderId" or "folder_id"); "" when none
	EventTypesForm string // "array" or "string"; "" when event_types was not sent
	// Error is the 400 message of a rejected submission (see Rejected).
	Error string
}

// Server is a running emulator. Close it when done.
type Server struct {
	URL      string // API base URL: Config.BaseURL
	FileURL  string // base URL of the file host
	TokenURL string // client-credentials token endpoint, on the API host
	Tenant   string
	Token    string

	opts     Options
	api      *httptest.Server
	files    *httptest.Server
	sigKey   []byte
	mu       sync.Mutex
	events   []Event
	faults   Faults
	retryAlt bool
	stats    Stats
	jobs     map[string]*job
	order    []string // job ids in submission order
	rejected []Submission
	issued   map[string]time.Time
	secrets  map[string]fileRef // secret path segment -> file (Dialect.SecretPaths)
	nth      int                // requests counted by the periodic faults
	// unfinished counts the jobs that hold a place under Options.JobLimit.
	unfinished int
}

type fileRef struct{ job, name string }

type job struct {
	sub      Submission
	polls    int
	files    []outFile
	create   time.Time
	finished bool // a poll has answered Success with files, or Failed
}

type outFile struct {
	name string
	data []byte
}

// NewServer starts the emulator's two hosts.
func NewServer(opts Options) *Server {
	if opts.Tenant == "" {
		opts.Tenant = "tenant"
	}
	if opts.Token == "" {
		opts.Token = "token"
	}
	if opts.PendingPolls == 0 {
		opts.PendingPolls = 1
	} else if opts.PendingPolls < 0 {
		opts.PendingPolls = 0
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Files <= 0 {
		opts.Files = 1
	}
	opts.Dialect.check()
	if opts.DownloadURL && opts.Dialect.Status == "" {
		opts.Dialect.Status = "download_url"
	}
	if opts.JobLimitStatus == 0 {
		opts.JobLimitStatus = http.StatusConflict
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	s := &Server{
		Tenant:  opts.Tenant,
		Token:   opts.Token,
		opts:    opts,
		sigKey:  []byte(uuid.NewString()),
		jobs:    map[string]*job{},
		issued:  map[string]time.Time{},
		secrets: map[string]fileRef{},
	}

	api := http.NewServeMux()
	api.HandleFunc("POST /auth/realms/{tenant}/protocol/openid-connect/token", s.handleToken)
	api.Handle("POST /{tenant}/api/v4/events/download", s.guard(s.handleSubmit))
	api.Handle("GET /{tenant}/api/v4/events/download/{id}/status", s.guard(s.handleStatus))
	s.api = httptest.NewServer(s.count(api, false))

	fileMux := http.NewServeMux()
	fileMux.HandleFunc("GET /files/{job}/{name}", s.handleFile)
	fileMux.HandleFunc("GET /docstore/api/v1/documents/versions/tokens/{secret}/{name}", s.handleFile)
	s.files = httptest.NewUnstartedServer(s.count(fileMux, true))
	s.files.Start()
	_, port, _ := net.SplitHostPort(s.files.Listener.Addr().String())

	s.URL = s.api.URL
	s.FileURL = "http://localhost:" + port
	s.TokenURL = s.URL + "/auth/realms/" + url.PathEscape(opts.Tenant) + "/protocol/openid-connect/token"
	return s
}

// Close shuts both hosts down.
func (s *Server) Close() {
	s.api.Close()
	s.files.Close()
}

// AddEvents adds events to export. Safe for concurrent use; jobs submitted
// later see them.
func (s *Server) AddEvents(evs ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
}

// SetPageSize changes the cap of Options.PageSize for the jobs submitted
// from now on: Spark lowering (or raising) its hidden cap.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.PageSize = n
}

// SetFaults replaces the faults to inject.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.nth = 0
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Submissions returns the jobs submitted so far, oldest first.
func (s *Server) Submissions() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Submission, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.jobs[id].sub)
	}
	return out
}

// Rejected returns the submissions answered 400, oldest first, each with
// its Error.
func (s *Server) Rejected() []Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rejected)
}

// FileSecrets returns the secret path segments of the file links issued so
// far (Dialect.SecretPaths), for tests to check they leak nowhere.
func (s *Server) FileSecrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.secrets))
	for k := range s.secrets {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RevokeTokens invalidates every token the token endpoint issued, as if they
// had expired early: the next request with one gets a 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.issued)
}

// count counts requests and injects the request-level faults. fileHost
// marks the file host's handler, whose requests must never carry a token,
// faulted ones included.
func (s *Server) count(next http.Handler, fileHost bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.Requests++
		if fileHost && r.Header.Get("Authorization") != "" {
			s.stats.AuthHeadersSeenByFileHost++
		}
		isToken := strings.HasSuffix(r.URL.Path, "/openid-connect/token")
		if !isToken {
			s.nth++
		}
		every := func(n int) bool { return n > 0 && s.nth%n == 0 }
		switch {
		case isToken:
		case take(&s.faults.RateLimited), every(s.faults.RateLimitEvery):
			s.writeRateLimited(w)
			return
		case take(&s.faults.ServerErrors), every(s.faults.ServerErrorEvery):
			s.mu.Unlock()
			writeError(w, http.StatusInternalServerError, "internal server error")
			return
		}
		s.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// writeRateLimited answers 429 with a retry header, Retry-After and
// Spark's x-retry-after in turn. It unlocks s.mu, which the caller holds.
func (s *Server) writeRateLimited(w http.ResponseWriter) {
	s.retryAlt = !s.retryAlt
	alt := s.retryAlt
	s.mu.Unlock()
	wait := strconv.FormatFloat(s.opts.RetryAfter.Seconds(), 'f', -1, 64)
	if alt {
		w.Header().Set("Retry-After", wait)
	} else {
		w.Header().Set("X-Retry-After", wait)
	}
	writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
}

// guard checks tenant and bearer token on the API host.
func (s *Server) guard(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.validToken(tok) {
			writeError(w, http.StatusUnauthorized, "invalid or missing bearer token")
			return
		}
		if r.PathValue("tenant") != s.Tenant {
			writeError(w, http.StatusNotFound, "tenant not found")
			return
		}
		if r.Header.Get("X-Tenant-Name") != s.Tenant {
			writeError(w, http.StatusForbidden, "x-tenant-name does not match the tenant")
			return
		}
		h(w, r)
	})
}

func (s *Server) validToken(tok string) bool {
	if tok == "" {
		return false
	}
	if tok == s.Token {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.issued[tok]
	return ok && time.Now().Before(exp)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		id, secret = bid, bsecret
	}
	if s.opts.ClientID == "" || r.PathValue("tenant") != s.Tenant ||
		id != s.opts.ClientID || secret != s.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tok := "cc-" + uuid.NewString()
	s.mu.Lock()
	s.issued[tok] = time.Now().Add(s.opts.TokenTTL)
	s.stats.Tokens++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.TokenTTL.Seconds()),
	})
}

// eventTypes decodes an event_types value: a JSON array or, as in Spark's
// sample, a JSON-encoded string holding one. It returns the form it found
// and, when the form is not the one required (want, "" = either) or the
// value no list, the message of a 400.
func eventTypes(v json.RawMessage, want string) (types []string, form, msg string) {
	var s string
	switch {
	case json.Unmarshal(v, &types) == nil:
		form = "array"
	case json.Unmarshal(v, &s) == nil && json.Unmarshal([]byte(s), &types) == nil:
		form = "string"
	default:
		return nil, "", fmt.Sprintf("invalid event_types %s", v)
	}
	switch {
	case want == "array" && form != want:
		return nil, form, "event_types must be an array"
	case want == "string" && form != want:
		return nil, form, "event_types must be a string"
	}
	return types, form, ""
}

// sparkTime parses the search dates; Spark's sample uses milliseconds and Z.
func sparkTime(v string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, v)
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PageNo     int             `json:"page_no"`
		PageSize   json.RawMessage `json:"page_size"`
		PageSizeV2 json.RawMessage `json:"pageSize"`
		SortColumn string          `json:"sort_column"`
		SortOrder  string          `json:"sort_order"`
		Search     []struct {
			Column string          `json:"column"`
			Value  json.RawMessage `json:"value"`
		} `json:"search"`
	}
	raw, err := readAll(r)
	if err != nil || json.Unmarshal(raw, &body) != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	sub := Submission{
		ID:         uuid.NewString(),
		Body:       raw,
		SortColumn: body.SortColumn,
		SortOrder:  body.SortOrder,
		Search:     map[string]string{},
	}
	reject := func(msg string) {
		sub.Error = msg
		s.mu.Lock()
		s.rejected = append(s.rejected, sub)
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msg)
	}
	d := s.opts.Dialect
	for _, ps := range []struct {
		key string
		v   json.RawMessage
	}{{"pageSize", body.PageSizeV2}, {"page_size", body.PageSize}} {
		if d.PageSizeKey != "" && d.PageSizeKey != ps.key {
			continue // a strict server ignores a key it does not know
		}
		if n, ok := intValue(ps.v); ok {
			sub.PageSize, sub.PageSizeKey = n, ps.key
			break
		}
	}
	for _, it := range body.Search {
		val := rawString(it.Value)
		sub.Search[it.Column] = val
		switch it.Column {
		case "event_start_date", "event_end_date":
			t, err := sparkTime(val)
			if err != nil {
				reject(fmt.Sprintf("invalid %s %q", it.Column, val))
				return
			}
			if it.Column == "event_start_date" {
				sub.Start = t
			} else {
				sub.End = t
			}
		case "event_types":
			types, form, msg := eventTypes(it.Value, d.EventTypes)
			sub.EventTypesForm = form
			if msg != "" {
				reject(msg)
				return
			}
			sub.EventTypes = types
		case "folderId", "folder_id":
			sub.FolderColumn = it.Column
			if d.FolderColumn != "" && it.Column != d.FolderColumn {
				reject(fmt.Sprintf("unknown search column %q", it.Column))
				return
			}
		case "service_name", "user_name":
		default:
			if d.FolderColumn != "" {
				reject(fmt.Sprintf("unknown search column %q", it.Column))
				return
			}
		}
	}
	if f, ok := sub.Search["folderId"]; ok && sub.Search["folder_id"] == "" {
		sub.Search["folder_id"] = f
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.JobLimit > 0 && s.unfinished >= s.opts.JobLimit {
		s.stats.JobsRefused++
		msg := fmt.Sprintf("Only %d job can be executed at once", s.opts.JobLimit)
		if s.opts.JobLimit > 1 {
			msg = fmt.Sprintf("Only %d jobs can be executed at once", s.opts.JobLimit)
		}
		writeError(w, s.opts.JobLimitStatus, msg)
		return
	}
	rows := s.selectLocked(sub)
	sub.Rows = len(rows)
	j := &job{sub: sub, create: time.Now().UTC()}
	if j.files, err = s.buildFiles(j.create, rows); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.jobs[sub.ID] = j
	s.order = append(s.order, sub.ID)
	s.stats.Jobs++
	s.unfinished++
	s.stats.MaxUnfinished = max(s.stats.MaxUnfinished, s.unfinished)
	statusURL := s.statusURL(sub.ID)
	if s.opts.ForeignStatusURL {
		statusURL = strings.Replace(statusURL, "//127.0.0.1:", "//localhost:", 1)
	}
	resp := map[string]string{
		"object":     "events",
		"id":         sub.ID,
		"status_url": statusURL,
	}
	if take(&s.faults.CutSubmits) {
		data, _ := json.Marshal(resp)
		writeBroken(w, r, "application/json", data, false)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) statusURL(id string) string {
	return s.URL + "/" + url.PathEscape(s.Tenant) + "/api/v4/events/download/" + id + "/status"
}

// selectLocked filters and sorts the events of a submission and applies the
// row cap.
func (s *Server) selectLocked(sub Submission) []Event {
	var out []Event
	for _, e := range s.events {
		switch {
		case !sub.Start.IsZero() && e.Time.Before(sub.Start),
			!sub.End.IsZero() && e.Time.After(sub.End),
			s.opts.ExclusiveBounds && (e.Time.Equal(sub.Start) || e.Time.Equal(sub.End)),
			len(sub.EventTypes) > 0 && !slices.Contains(sub.EventTypes, e.Type),
			sub.Search["user_name"] != "" && e.User != sub.Search["user_name"],
			sub.Search["service_name"] != "" && e.Service != sub.Search["service_name"],
			sub.Search["folder_id"] != "" && e.FolderID != sub.Search["folder_id"]:
			continue
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	limit := sub.PageSize
	if s.opts.PageSize > 0 && (limit <= 0 || s.opts.PageSize < limit) {
		limit = s.opts.PageSize
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	s.stats.Polls++
	j, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "job not found")
		return
	}
	j.polls++
	cut := take(&s.faults.CutPolls)
	stall := !cut && take(&s.faults.StallPolls)
	var st jobStatus
	switch {
	case s.faults.StuckJobs || j.polls <= s.opts.PendingPolls:
		st.word, st.progress = "in_progress", 50
	case s.faults.FailJobs != "":
		s.finishLocked(j)
		st.word, st.failure = "Failed", s.faults.FailJobs
		if s.opts.Dialect.ErrorKey == "errors" {
			st.word = "completed" // done, with errors and no file
		}
	case !cut && !stall && take(&s.faults.FilesLate):
		st.word = "Success"
	default:
		s.finishLocked(j)
		st.word = "Success"
		for _, f := range j.files {
			st.links = append(st.links, s.fileLinkLocked(id, f.name))
		}
	}
	resp := s.statusAnswer(id, j, st)
	s.mu.Unlock()
	if !cut && !stall {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	data, _ := json.Marshal(resp)
	writeBroken(w, r, "application/json", data, stall)
}

// jobStatus is a job's state at one poll, before the dialect shapes it.
type jobStatus struct {
	word     string   // Spark's status word
	progress int      // 0-100; 100 unless running
	failure  string   // the error message of a failed job
	links    []string // file links of a finished job
}

// statusAnswer shapes st as the dialect's status answer.
func (s *Server) statusAnswer(id string, j *job, st jobStatus) map[string]any {
	d := s.opts.Dialect
	resp := map[string]any{
		"object":             "events",
		"id":                 id,
		"status_url":         s.statusURL(id),
		"response_timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"process_time":       time.Since(j.create).Milliseconds(),
		"status":             st.word,
		"error":              nil,
		"source_system":      "SPARK",
		"correlation_id":     "",
	}
	if st.word != "in_progress" {
		st.progress = 100
	}
	switch {
	case st.failure == "":
	case d.ErrorKey == "errors":
		resp["errors"] = []any{map[string]any{"code": "EXPORT_FAILED", "message": st.failure}}
	default:
		resp["error"] = st.failure
	}
	switch d.Status {
	case "download_url":
		if len(st.links) > 0 {
			resp["download_url"] = st.links[0]
		}
	case "response_data":
		// The call succeeded; the job's own state is in response_data.
		resp["status"] = "Success"
		link := ""
		if len(st.links) > 0 {
			link = st.links[0]
		}
		resp["response_data"] = map[string]any{"job_id": id, "status": st.word, "progress": st.progress, "download_url": link}
	default:
		files := make([]any, 0, len(st.links))
		for _, l := range st.links {
			files = append(files, map[string]any{"file": l, "file_hash": nil})
		}
		resp["outputs"] = map[string]any{"files": files}
	}
	return resp
}

// finishLocked frees j's place under Options.JobLimit, once.
func (s *Server) finishLocked(j *job) {
	if !j.finished {
		j.finished = true
		s.unfinished--
	}
}

// take counts down a fault counter and reports whether the fault fires.
func take(n *int) bool {
	if *n <= 0 {
		return false
	}
	*n--
	return true
}

// writeBroken announces data whole and sends half of it. Then it returns,
// and the server closes the connection short of its Content-Length, which
// the client reads as an unexpected EOF; or, to stall, it waits until the
// client gives up (or Close).
func writeBroken(w http.ResponseWriter, r *http.Request, ctype string, data []byte, stall bool) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data[:len(data)/2])
	if stall {
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

// fileLinkLocked is the link to a job's file: on the file host, signed
// with ?sig= (SignedFileURLs) and under a secret path (SecretPaths).
func (s *Server) fileLinkLocked(jobID, name string) string {
	u := s.FileURL + "/files/" + jobID + "/" + name
	if s.opts.Dialect.SecretPaths {
		secret := s.pathSecret(jobID, name)
		s.secrets[secret] = fileRef{jobID, name}
		u = s.FileURL + "/docstore/api/v1/documents/versions/tokens/" + secret + "/" + name
	}
	if s.opts.SignedFileURLs {
		u += "?sig=" + s.sign(jobID, name)
	}
	return u
}

func (s *Server) sign(jobID, name string) string {
	m := hmac.New(sha256.New, s.sigKey)
	m.Write([]byte(jobID + "/" + name))
	return hex.EncodeToString(m.Sum(nil))
}

// pathSecret is the credential of a secret path: opaque base64url, as
// entitystore's are.
func (s *Server) pathSecret(jobID, name string) string {
	m := hmac.New(sha256.New, s.sigKey)
	m.Write([]byte("path/" + jobID + "/" + name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	jobID, name := r.PathValue("job"), r.PathValue("name")
	s.mu.Lock()
	secretPath := r.PathValue("secret") != ""
	if secretPath {
		ref, ok := s.secrets[r.PathValue("secret")]
		if !ok || ref.name != name {
			s.mu.Unlock()
			writeError(w, http.StatusForbidden, "invalid document token")
			return
		}
		jobID = ref.job
	} else if s.opts.Dialect.SecretPaths {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "a document token is required")
		return
	}
	var data []byte
	if j, ok := s.jobs[jobID]; ok {
		for _, f := range j.files {
			if f.name == name {
				data = f.data
			}
		}
	}
	if data == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "file not found")
		return
	}
	if s.opts.SignedFileURLs && !hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(s.sign(jobID, name))) {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "invalid or missing signature")
		return
	}
	if take(&s.faults.ForbidFiles) {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, "access denied to "+r.URL.Path)
		return
	}
	s.stats.Downloads++
	truncate := take(&s.faults.TruncateDownloads)
	stall := !truncate && take(&s.faults.StallDownloads)
	s.mu.Unlock()

	ctype := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	if strings.HasSuffix(name, ".zip") {
		ctype = "application/zip"
	}
	if truncate || stall {
		writeBroken(w, r, ctype, data, stall)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"status": code, "error": http.StatusText(code), "message": msg})
}

func readAll(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

// rawString is a JSON value as text: a string's content, else the raw JSON.
func rawString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

func intValue(v json.RawMessage) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int
	if json.Unmarshal(v, &n) == nil {
		return n, true
	}
	if n, err := strconv.Atoi(rawString(v)); err == nil {
		return n, true
	}
	return 0, false
}
