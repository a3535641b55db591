package extract

import (
	"context"
	"testing"
	"time"
)

func testClient(t *testing.T, retries int) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: "http://spark.test", Tenant: "t", Token: "tok", Retries: retries,
		MinRetryWait: time.Millisecond, MaxRetryWait: 8 * time.Millisecond, JobTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The failures of a request count in a row: any success of the Client in
// between starts the count again.
func TestRetryBudget(t *testing.T) {
	tests := []struct {
		name   string
		events string // f: the request fails, s: another request succeeds
		ok     []bool // per f: may the request retry?
	}{
		{"in a row", "fff", []bool{true, true, false}},
		{"a success between", "ffsff", []bool{true, true, true, true}},
		{"successes between each", "fsfsfsfsf", []bool{true, true, true, true, true}},
		{"a success, then in a row", "sfff", []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClient(t, 2)
			r := &retryState{start: time.Now()}
			var got []bool
			for _, e := range tt.events {
				if e == 's' {
					c.lim.succeeded()
					continue
				}
				_, ok := c.failed(r)
				got = append(got, ok)
			}
			if len(got) != len(tt.ok) {
				t.Fatalf("got %v, want %v", got, tt.ok)
			}
			for i := range got {
				if got[i] != tt.ok[i] {
					t.Fatalf("got %v, want %v", got, tt.ok)
				}
			}
			// Retries counts the failures that are retried, not the last.
			var retried int64
			for _, ok := range got {
				if ok {
					retried++
				}
			}
			if c.Retries() != retried {
				t.Fatalf("Retries() = %d, want %d", c.Retries(), retried)
			}
		})
	}
}

// A request retries nothing past JobTimeout since it was first sent,
// however few its failures.
func TestRetryDeadline(t *testing.T) {
	c := testClient(t, 100)
	r := &retryState{start: time.Now().Add(-time.Second)}
	if _, ok := c.failed(r); ok {
		t.Error("a failure after the job timeout may retry")
	}
	if _, ok := c.paced(r, nil); ok {
		t.Error("a 429 after the job timeout may wait")
	}
}

// The limit halves on congestion, down to 1, and grows back with
// successes; the shared wait doubles, up to MaxRetryWait, and halves.
func TestLimiterAIMD(t *testing.T) {
	l := newLimiter(time.Millisecond, 8*time.Millisecond)
	var waits []time.Duration
	for range 6 {
		waits = append(waits, l.congested())
	}
	if l.limit != 1 {
		t.Errorf("limit after 6 congestions = %v, want 1", l.limit)
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if waits[i] != want[i]*time.Millisecond {
			t.Fatalf("shared waits = %v, want %v ms", waits, want)
		}
	}
	for range 3 {
		l.succeeded()
	}
	if l.limit < 2.5 || l.limit > 3 || l.penalty != time.Millisecond {
		t.Errorf("after 3 successes: limit %v, wait %s; want about 2.9 and 1ms", l.limit, l.penalty)
	}
	for range 1000 {
		l.succeeded()
	}
	if l.limit != maxInFlight || l.penalty != 0 {
		t.Errorf("after many successes: limit %v, wait %s; want %d and 0", l.limit, l.penalty, maxInFlight)
	}
}

// A request waits its turn while the limit is reached, and every request
// waits out a pause.
func TestLimiterAcquire(t *testing.T) {
	ctx := context.Background()
	l := newLimiter(time.Millisecond, time.Second)
	l.congested()
	l.congested()
	l.congested()
	l.congested() // limit 1
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	second := make(chan time.Time, 1)
	go func() {
		l.acquire(ctx)
		second <- time.Now()
		l.release()
	}()
	time.Sleep(50 * time.Millisecond)
	released := time.Now()
	l.release()
	if at := <-second; at.Before(released) {
		t.Error("a second request went out while the limit was 1")
	}

	l.pause(100 * time.Millisecond)
	start := time.Now()
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	l.release()
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("a request went out %s into a 100ms pause", d)
	}

	l.pause(time.Hour)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(cctx); err == nil {
		t.Error("acquire ignored its context during a pause")
	}
}

func TestJobLimitAnswers(t *testing.T) {
	tests := []struct {
		code  int
		body  string
		limit int // 0: not a job-limit refusal
	}{
		{409, `{"status":409,"message":"Only 1 job can be executed at once"}`, 1},
		{400, `{"error":"Only 2 jobs can be executed at once"}`, 2},
		{429, `Too many concurrent jobs for this tenant`, 1},
		{409, `{"message":"folder already exists"}`, 0},
		{500, `job failed: concurrent modification`, 0}, // a failure to retry
		{403, `Only 1 job can be executed at once`, 0},
	}
	for _, tt := range tests {
		err := asJobLimit(&StatusError{StatusCode: tt.code, Body: tt.body}, 0)
		jl, ok := err.(*jobLimitError)
		switch {
		case tt.limit == 0 && ok:
			t.Errorf("%d %s: taken for a job-limit refusal", tt.code, tt.body)
		case tt.limit > 0 && (!ok || jl.limit != tt.limit):
			t.Errorf("%d %s: got %v, want a refusal with limit %d", tt.code, tt.body, err, tt.limit)
		}
	}
}
