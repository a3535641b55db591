package extract_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"sparkevents/extract"
	"sparkevents/extract/sparktest"
)

// A job refused for the tenant's job limit waits until the running job is
// released, then goes in; the Client runs one job at a time from then on.
func TestSubmitWaitsForTheJobLimit(t *testing.T) {
	srv := newServer(t, sparktest.Options{JobLimit: 1})
	var logs bytes.Buffer
	cfg := fastConfig(srv)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c := newClient(t, cfg)
	first, err := c.Submit(t.Context(), extract.Query{})
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		job, err := c.Submit(t.Context(), extract.Query{})
		if err == nil {
			_, err = c.Wait(t.Context(), job)
			job.Release()
		}
		second <- err
	}()
	// Refused once, the second job waits for the first to be released, and
	// Spark sees no further submission meanwhile.
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-second:
		t.Fatalf("second job returned %v before the first was released", err)
	default:
	}
	if st := srv.Stats(); st.JobsRefused != 1 || st.Jobs != 1 {
		t.Fatalf("stats = %+v, want 1 job and 1 refused", st)
	}
	if _, err := c.Wait(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	first.Release()
	first.Release() // a second release gives nothing back
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Jobs != 2 || st.MaxUnfinished != 1 {
		t.Errorf("stats = %+v, want 2 jobs, never two unfinished", st)
	}
	if n := strings.Count(logs.String(), "allows one export job at a time"); n != 1 {
		t.Errorf("the job limit was logged %d times, want once:\n%s", n, logs.String())
	}
	extract.Job{}.Release() // a Job built by hand holds no slot
}

// A job of another program holds the tenant: Submit gives up after the
// job timeout, saying why.
func TestSubmitRefusedUntilTheJobTimeout(t *testing.T) {
	srv := newServer(t, sparktest.Options{JobLimit: 1})
	other := newClient(t, fastConfig(srv))
	if _, err := other.Submit(t.Context(), extract.Query{}); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(srv)
	cfg.JobTimeout = 300 * time.Millisecond
	c := newClient(t, cfg)
	start := time.Now()
	_, err := c.Submit(t.Context(), extract.Query{})
	var se *extract.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict || !strings.Contains(err.Error(), "--job-timeout") {
		t.Fatalf("err = %v, want the 409 after the job timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %s, want about the job timeout of 300ms", d)
	}
	if st := srv.Stats(); st.JobsRefused < 3 {
		t.Errorf("refused %d times, want Submit to have tried again", st.JobsRefused)
	}
}

// 429s are Spark setting the pace, not failures: they spend no retries,
// and a request waits them out until the job timeout.
// A 429 is counted as rate limiting, not as a retry.
func TestRateLimitsSpendNoRetries(t *testing.T) {
	tests := []struct {
		name     string
		faults   sparktest.Faults
		timeout  time.Duration
		wantCode int // 0: success
	}{
		{"more 429s than retries", sparktest.Faults{RateLimited: 6}, 10 * time.Second, 0},
		{"429s until the job timeout", sparktest.Faults{RateLimitEvery: 1}, 300 * time.Millisecond, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, sparktest.Options{RetryAfter: 20 * time.Millisecond})
			cfg := fastConfig(srv)
			cfg.Retries, cfg.JobTimeout, cfg.MaxRetryWait = 1, tt.timeout, time.Second
			c := newClient(t, cfg)
			srv.SetFaults(tt.faults)
			start := time.Now()
			job, err := c.Submit(t.Context(), extract.Query{})
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatal(err)
				}
				job.Release()
				if got := srv.Stats().Requests; got != 7 {
					t.Errorf("%d requests, want 7", got)
				}
				if c.RateLimited() != 6 || c.Retries() != 0 {
					t.Errorf("RateLimited() = %d, Retries() = %d; want 6 and 0", c.RateLimited(), c.Retries())
				}
				return
			}
			var se *extract.StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.wantCode || !strings.Contains(err.Error(), "job timeout") {
				t.Fatalf("err = %v, want a %d after the job timeout", err, tt.wantCode)
			}
			if d := time.Since(start); d < tt.timeout-50*time.Millisecond || d > tt.timeout+time.Second {
				t.Errorf("gave up after %s, want about %s", d, tt.timeout)
			}
		})
	}
}

// A Retry-After holds back every request of the Client, not only the one
// it answered: parallel jobs back off together.
func TestRetryAfterHoldsEveryRequest(t *testing.T) {
	var (
		mu       sync.Mutex
		arrivals []time.Time
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		first := len(arrivals) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0.3")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{"id":"j"}`)
	}))
	defer ts.Close()
	c := newClient(t, extract.Config{BaseURL: ts.URL, Tenant: "t", Token: "tok", MinRetryWait: time.Millisecond, MaxRetryWait: time.Second})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := c.Submit(t.Context(), extract.Query{}); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(50 * time.Millisecond) // the first has its 429
	if _, err := c.Submit(t.Context(), extract.Query{}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 3 {
		t.Fatalf("%d requests, want 3", len(arrivals))
	}
	for _, at := range arrivals[1:] {
		if d := at.Sub(arrivals[0]); d < 290*time.Millisecond {
			t.Errorf("a request went out %s after a Retry-After of 300ms", d)
		}
	}
}
