package extract

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrJobTimeout is wrapped by the error Wait returns when a job has not
// finished within Config.JobTimeout.
var ErrJobTimeout = errors.New("spark job timed out")

// ErrNoFile is wrapped by the error Wait returns when Spark has called a
// job done for Config.NoFileWait without listing a file: an empty window
// in one of Spark's dialects, or a file that is late. Only an export that
// must hold an event (a stored one) tells the two apart.
var ErrNoFile = errors.New("spark job done without a file")

// JobError reports a job that Spark ended without success. Message is
// Spark's own error text, when it gave one.
type JobError struct {
	JobID, Status, Message string
}

func (e *JobError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no error message from Spark"
	}
	return fmt.Sprintf("spark job %s %s: %s", e.JobID, e.Status, msg)
}

// StatusError reports an HTTP answer that is not a success and was not (or
// no longer) worth retrying.
type StatusError struct {
	Method, URL string // URL redacted: no query, no secret path segment (pre-signed links carry secrets there)
	StatusCode  int
	Body        string // the start of the response body, at most 512 bytes
	Hint        string // what to check, e.g. "check SPARK_TENANT"
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		s += ": " + e.Body
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}
