package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Query selects the events of an export job. Zero fields filter nothing.
type Query struct {
	Start, End  time.Time // the window; Spark's inclusiveness is unknown: overlap windows
	EventTypes  []string
	UserName    string
	ServiceName string
	FolderID    string
	// PageSize is the page size asked for (default 100000). Spark may cap
	// the rows of a file; a file with exactly PageSize rows may be cut short.
	PageSize int
}

// Job is a submitted export job.
type Job struct {
	ID        string
	StatusURL string
	// slot is the job's place under the tenant's job limit, taken by
	// Submit; nil in a Job built by hand.
	slot *jobSlot
}

// Release tells the Client that the caller is done with the job (its
// files downloaded, or given up on), so that another job may start when
// the tenant allows only one at a time. Call it once Submit has succeeded;
// calling it again does nothing.
func (j Job) Release() { j.slot.release() }

// File is one output file of a finished job.
type File struct {
	URL  string
	Hash string // Spark's file_hash; often empty
}

// SparkTime is the timestamp layout of the search filters.
const SparkTime = "2006-01-02T15:04:05.000Z"

// The sort is irrelevant to us (the loader upserts by identity), so we send
// the documented example column; the emulator ignores it.
const (
	sortColumn = "-updated"
	sortOrder  = "asc"
)

type searchItem struct {
	Column string          `json:"column"`
	Value  json.RawMessage `json:"value"`
}

type submitRequest struct {
	PageNo int `json:"page_no"`
	// The page's table says pageSize, its sample says page_size: send both.
	PageSize   int          `json:"page_size"`
	PageSizeV2 int          `json:"pageSize"`
	SortColumn string       `json:"sort_column"`
	SortOrder  string       `json:"sort_order"`
	Search     []searchItem `json:"search"`
}

// submitBody builds the JSON body of Submit, in the forms of d (with its
// defaults filled).
func submitBody(q Query, d Dialect) ([]byte, error) {
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return nil, fmt.Errorf("query window ends (%s) before it starts (%s)", q.End.UTC().Format(SparkTime), q.Start.UTC().Format(SparkTime))
	}
	size := q.PageSize
	if size <= 0 {
		size = DefaultPageSize
	}
	req := submitRequest{PageNo: 1, PageSize: size, PageSizeV2: size, SortColumn: sortColumn, SortOrder: sortOrder, Search: []searchItem{}}
	add := func(col, val string) {
		if val != "" {
			v, _ := json.Marshal(val) // a string always marshals
			req.Search = append(req.Search, searchItem{col, v})
		}
	}
	add(d.FolderColumn, q.FolderID)
	add("service_name", q.ServiceName)
	if !q.Start.IsZero() {
		add("event_start_date", q.Start.UTC().Format(SparkTime))
	}
	if !q.End.IsZero() {
		add("event_end_date", q.End.UTC().Format(SparkTime))
	}
	add("user_name", q.UserName)
	if len(q.EventTypes) > 0 {
		b, err := json.Marshal(q.EventTypes)
		if err != nil {
			return nil, err
		}
		v := json.RawMessage(b)
		if d.EventTypes != EventTypesArray {
			// The sample sends the array as a JSON-encoded string.
			if v, err = json.Marshal(string(b)); err != nil {
				return nil, err
			}
		}
		req.Search = append(req.Search, searchItem{"event_types", v})
	}
	return json.Marshal(req)
}

// Submit starts an export job for q. A retried POST may start a duplicate
// job; that is harmless (it only costs Spark some work), so Submit retries
// like any other request. A 400 makes it send q once more in the other
// form of event_types or the folder column (see Dialect), unless
// Config.FixDialect is set.
//
// A tenant may allow only one job at a time ("Only 1 job can be executed
// at once"): a job refused so is submitted again once the Client's other
// jobs are released, or after a wait, until Config.JobTimeout has passed
// with Spark still refusing it; from then on the Client submits no more
// jobs at once than the tenant allows. The caller must call Release on the
// job when done with it.
func (c *Client) Submit(ctx context.Context, q Query) (Job, error) {
	endpoint := c.cfg.BaseURL + "/" + url.PathEscape(c.cfg.Tenant) + "/api/v4/events/download"
	var out struct{ ID, StatusURL string }
	slot, err := c.submitAdapting(ctx, endpoint, q, &out.ID, &out.StatusURL)
	if err != nil {
		return Job{}, fmt.Errorf("submit events job: %w", err)
	}
	if out.ID == "" {
		slot.release()
		return Job{}, errors.New("submit events job: Spark answered without a job id")
	}
	job := Job{ID: out.ID, StatusURL: endpoint + "/" + url.PathEscape(out.ID) + "/status", slot: slot}
	if out.StatusURL != "" {
		u, err := resolve(endpoint, out.StatusURL)
		if err != nil {
			slot.release()
			return Job{}, fmt.Errorf("submit events job %s: status_url: %w", out.ID, err)
		}
		// Spark's samples name other hosts than the one posted to. Polled
		// there without the token, the job would answer 401; the documented
		// path on BaseURL serves the same status with it.
		if pu, _ := url.Parse(u); c.isTrusted(pu) {
			job.StatusURL = u
		} else {
			c.log.Warn("status_url is on a host that may not get the token; polling the documented path instead (add the host to the trusted hosts to use it)", "job", out.ID, "status_url", redact(u))
		}
	}
	c.log.Info("spark job submitted", "job", job.ID)
	return job, nil
}

// submit posts a job in a slot of c.jobs, which it returns taken. A
// refusal for the tenant's job limit gives the slot back, waits, and
// tries again in a new one; it fails only once Spark has refused for
// JobTimeout with none of our own jobs ending meanwhile, as when another
// program's job holds the tenant.
func (c *Client) submit(ctx context.Context, endpoint string, body []byte, out any) (*jobSlot, error) {
	var refusedSince time.Time
	for refusals := 0; ; refusals++ {
		slot, waited, err := c.jobs.acquire(ctx)
		if err != nil {
			return nil, err
		}
		if waited {
			// One of our jobs ended: the tenant's place may be ours now.
			refusedSince, refusals = time.Time{}, 0
		}
		err = c.callJSON(ctx, http.MethodPost, endpoint, body, out)
		var jl *jobLimitError
		if !errors.As(err, &jl) {
			if err != nil {
				slot.release()
				return nil, err
			}
			return slot, nil
		}
		slot.release()
		c.jobs.limitTo(jl.limit, c.log)
		wait := jl.retryAfter
		if wait <= 0 {
			// The other job must end first: wait as for a poll.
			wait = jitter(expo(c.cfg.PollInterval, c.cfg.MaxPollInterval, refusals))
		}
		if refusedSince.IsZero() {
			refusedSince = time.Now()
		}
		if time.Since(refusedSince)+wait > c.cfg.JobTimeout {
			return nil, fmt.Errorf("spark has refused the job for %s (--job-timeout) while none of ours ran: another export job of the tenant is running, perhaps from the Spark UI or another sparkevents: %w", c.cfg.JobTimeout, err)
		}
		c.log.Debug("job refused for the tenant's job limit, waiting", "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

type statusResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// DownloadURL is where the prose of Spark's page puts the file
	// ("status response and download_url"); its sample uses Outputs.Files.
	DownloadURL string `json:"download_url"`
	Outputs     struct {
		Files []struct {
			File     string  `json:"file"`
			FileHash *string `json:"file_hash"`
		} `json:"files"`
		DownloadURL string `json:"download_url"`
	} `json:"outputs"`
	// ResponseData is the answer shape of the SDKs' history download job:
	// the top-level status is the call's, the job's own is here.
	ResponseData *struct {
		Status      string   `json:"status"`
		Progress    *float64 `json:"progress"` // 0-100
		DownloadURL string   `json:"download_url"`
	} `json:"response_data"`
	Error  json.RawMessage `json:"error"`
	Errors json.RawMessage `json:"errors"` // as Spark's ImpEx results report them
}

// state classifies the answer: failed when it carries an error, running
// while response_data's progress is below 100, else by its status word,
// response_data's before the top-level one.
func (st *statusResponse) state() (jobState, string) {
	word := st.Status
	if rd := st.ResponseData; rd != nil && strings.TrimSpace(rd.Status) != "" {
		word = rd.Status
	}
	switch {
	case st.failure() != "":
		return jobFailed, word
	case st.ResponseData != nil && st.ResponseData.Progress != nil && *st.ResponseData.Progress < 100:
		return jobRunning, word
	}
	return classify(word), word
}

// failure is Spark's error message, from error or errors, or "" if none.
func (st *statusResponse) failure() string {
	if m := errorMessage(st.Error); m != "" {
		return m
	}
	return errorsMessage(st.Errors)
}

// files returns the job's file links, resolved against statusURL: those of
// outputs.files, else a download_url (in outputs, at the top level, or in
// response_data).
func (st *statusResponse) files(statusURL string) ([]File, error) {
	var files []File
	add := func(link string, hash *string) error {
		if strings.TrimSpace(link) == "" {
			return nil
		}
		u, err := resolve(statusURL, link)
		if err != nil {
			return fmt.Errorf("file link: %w", err)
		}
		f := File{URL: u}
		if hash != nil {
			f.Hash = *hash
		}
		files = append(files, f)
		return nil
	}
	for _, f := range st.Outputs.Files {
		if err := add(f.File, f.FileHash); err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		links := []string{st.Outputs.DownloadURL, st.DownloadURL}
		if st.ResponseData != nil {
			links = append(links, st.ResponseData.DownloadURL)
		}
		for _, link := range links {
			if err := add(link, nil); err != nil {
				return nil, err
			}
			if len(files) > 0 {
				break
			}
		}
	}
	return files, nil
}

type jobState int

const (
	jobRunning jobState = iota
	jobDone
	jobFailed
)

// classify maps Spark's status words, which differ across its job APIs, to
// a state. Failure words are checked first: "completed_by_timeout" means
// Spark gave up, not success.
func classify(status string) jobState {
	s := strings.ToLower(strings.TrimSpace(status))
	for _, w := range []string{"fail", "error", "cancel", "timeout", "timed_out", "abort", "reject"} {
		if strings.Contains(s, w) {
			return jobFailed
		}
	}
	switch s {
	case "success", "succeeded", "successful", "completed", "complete", "closed", "done", "finished":
		return jobDone
	}
	return jobRunning
}

// errorMessage returns Spark's error as text, or "" when it is null or empty.
func errorMessage(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		if len(obj) == 0 {
			return ""
		}
		for _, k := range []string{"message", "error_message", "detail", "error"} {
			if m, ok := obj[k].(string); ok && m != "" {
				return m
			}
		}
	}
	return string(raw)
}

// errorsMessage joins the messages of an errors array (objects or strings);
// it returns "" when the array is null or empty.
func errorsMessage(raw json.RawMessage) string {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return errorMessage(raw) // not an array: read it as a single error
	}
	var msgs []string
	for _, it := range items {
		if m := errorMessage(it); m != "" {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "; ")
}

// errJobDeadline tells our own JobTimeout apart from the caller's deadline.
var errJobDeadline = errors.New("job deadline")

// Wait polls job until it finishes and returns its files, at least one. A
// job that Spark calls done but that lists no file yet is polled on like
// a running one: taken as empty, it would let a sync move its watermark
// past events it never stored. Still without a file after
// Config.NoFileWait, it returns an error wrapping ErrNoFile. A failed job
// returns a *JobError; a job still running after Config.JobTimeout returns
// an error wrapping ErrJobTimeout (and ErrNoFile, if it was done without a
// file).
func (c *Client) Wait(ctx context.Context, job Job) ([]File, error) {
	if job.StatusURL == "" {
		if job.ID == "" {
			return nil, errors.New("wait for job: no job id or status URL")
		}
		job.StatusURL = c.cfg.BaseURL + "/" + url.PathEscape(c.cfg.Tenant) + "/api/v4/events/download/" + url.PathEscape(job.ID) + "/status"
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.JobTimeout, errJobDeadline)
	defer cancel()
	last := "unknown"
	var doneAt time.Time // when Spark first called it done without a file; zero until then
	noFiles := func() bool { return !doneAt.IsZero() }
	timeout := func(last string) error {
		if noFiles() {
			return fmt.Errorf("spark job %s says %q but has given no file to download for %s; nothing of its window was stored (run again later, raise --job-timeout, or ask Spark support about the job): %w: %w", job.ID, last, c.cfg.JobTimeout, ErrJobTimeout, ErrNoFile)
		}
		return fmt.Errorf("spark job %s still %q after %s (raise --job-timeout): %w", job.ID, last, c.cfg.JobTimeout, ErrJobTimeout)
	}
	for poll := 0; ; poll++ {
		st, err := c.status(ctx, job.StatusURL)
		if err != nil {
			if context.Cause(ctx) == errJobDeadline && noFiles() {
				// Done without a file is the news, even if the time ran
				// out during the poll after.
				return nil, timeout(last)
			}
			if context.Cause(ctx) == errJobDeadline {
				if noFiles() && !errors.Is(err, errCutAnswer) {
					// Done without a file until the end: say so, even if
					// the time ran out during the poll after.
					return nil, timeout(last)
				}
				// The time ran out during a poll, not between two: the job's
				// last known status may be long out of date.
				during := "while waiting for a status answer"
				if errors.Is(err, errCutAnswer) {
					during = "while its status answers were cut short"
				}
				return nil, fmt.Errorf("spark job %s: --job-timeout (%s) passed %s (last status %q); nothing of its window was stored (check the network to Spark, or raise --job-timeout): %w: %w", job.ID, c.cfg.JobTimeout, during, last, ErrJobTimeout, err)
			}
			return nil, fmt.Errorf("poll job %s: %w", job.ID, err)
		}
		state, word := st.state()
		last = word
		switch state {
		case jobFailed:
			// Spark's message may quote a link: it goes to logs and etl_runs.
			return nil, &JobError{JobID: job.ID, Status: word, Message: redactText(st.failure())}
		case jobDone:
			files, err := st.files(job.StatusURL)
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", job.ID, err)
			}
			if len(files) > 0 {
				c.log.Info("spark job done", "job", job.ID, "status", word, "files", len(files), "polls", poll+1)
				return files, nil
			}
			if !noFiles() {
				c.log.Warn("spark job done but lists no file yet, polling on", "job", job.ID, "status", word, "for", c.cfg.NoFileWait)
				doneAt = time.Now()
			}
			if c.cfg.NoFileWait < c.cfg.JobTimeout && time.Since(doneAt) >= c.cfg.NoFileWait {
				return nil, fmt.Errorf("spark job %s says %q but has listed no file for %s: %w", job.ID, word, c.cfg.NoFileWait, ErrNoFile)
			}
		}
		wait := jitter(expo(c.cfg.PollInterval, c.cfg.MaxPollInterval, poll))
		c.log.Debug("spark job running", "job", job.ID, "status", word, "next_poll", wait)
		if err := sleep(ctx, wait); err != nil {
			if context.Cause(ctx) == errJobDeadline {
				return nil, timeout(last)
			}
			return nil, fmt.Errorf("poll job %s: %w", job.ID, err)
		}
	}
}

// status polls statusURL: one poll, whose answer callJSON may ask for again.
func (c *Client) status(ctx context.Context, statusURL string) (*statusResponse, error) {
	var st statusResponse
	if err := c.callJSON(ctx, http.MethodGet, statusURL, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// callJSON sends a request, as call does, and decodes its JSON answer
// into v.
func (c *Client) callJSON(ctx context.Context, method, rawURL string, body []byte, v any) error {
	return c.call(ctx, method, rawURL, body, func(resp *http.Response) error {
		defer resp.Body.Close()
		return decodeJSON(resp.Body, v)
	})
}

// decodeJSON decodes a bounded JSON body: answers of this API are small.
func decodeJSON(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w: %w", errCutAnswer, scrubURLError(err))
	}
	if err := json.Unmarshal(b, v); err != nil {
		if len(b) > maxErrorBody {
			b = b[:maxErrorBody]
		}
		return fmt.Errorf("answer is not the expected JSON (%v): %s", err, redactText(strings.TrimSpace(string(b))))
	}
	return nil
}

// resolve makes ref absolute against base and insists on http(s).
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return "", fmt.Errorf("invalid URL %q", redact(ref))
	}
	u := b.ResolveReference(r)
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q is not an http(s) URL", redact(ref))
	}
	return u.String(), nil
}
