// Package extract is the client of the Spark Events API: it submits export
// jobs, waits for them, and downloads the workbooks they produce.
//
// A sync is Submit, then Wait, then Download for each file:
//
//	c, err := extract.New(extract.Config{BaseURL: url, Tenant: tenant, Token: token})
//	job, err := c.Submit(ctx, extract.Query{Start: from, End: to})
//	defer job.Release() // the tenant may allow one job at a time
//	files, err := c.Wait(ctx, job)
//	for _, f := range files {
//		paths, err := c.Download(ctx, f, dir) // .xlsx paths
//	}
//
// Choices where Spark's documentation is silent or inconsistent:
//
//   - The request body carries both page_size and pageSize, so a server
//     that reads only one still gets it. Filters go in the spelling of
//     Spark's sample (folder_id; event_types as a JSON-encoded string)
//     unless Config.Dialect says otherwise; a 400 makes Submit send the
//     other form (folderId; a JSON array) once, and the Client remembers
//     what Spark accepted (Client.Dialect), for the caller to store and
//     seed the next run with. Dates are sent in UTC as
//     2006-01-02T15:04:05.000Z.
//   - Job status words are matched case-insensitively. Words containing
//     fail, error, cancel, timeout or abort, or a non-null error, fail the
//     job with a *JobError; "completed_by_timeout" means Spark gave up, so it
//     fails too. success, succeeded, completed, complete, closed, done and
//     finished mean done. Anything else means still running.
//   - A done job's files are its outputs.files links (Spark's sample), else
//     a download_url (the prose of Spark's page), else response_data's
//     download_url (the SDKs' history jobs, whose top-level "Success" is
//     the call's: the job runs while response_data.progress is below 100).
//     A non-empty errors array fails the job like a non-null error. A job done without any
//     is polled on until it lists one or JobTimeout passes (Spark's other
//     job APIs call a job done "with files"): taking it for an empty
//     window would move a sync's watermark past events never stored. An
//     empty window is assumed to come as a workbook without rows.
//   - The bearer token, and x-tenant-name, go only to BaseURL's host and
//     Config.TrustedHosts; status and file links on other hosts get neither,
//     and a redirect to such a host drops them.
//   - Network errors and 408, 500, 502, 503 and 504 answers are retried
//     with exponential backoff and jitter, Retries times in a row, counted
//     again from zero after any success of the Client. The job POST is
//     retried too: a duplicate export job is harmless. A download cut
//     short is retried the same way.
//   - A 429 (or a 503 with Retry-After) sets the pace: every request of the
//     Client waits out its Retry-After or x-retry-after, and fewer are sent
//     at once (AIMD), until the requests succeed again. It spends no retry:
//     a request gives up only when JobTimeout has passed since it was sent.
//   - A submission refused for the tenant's job limit ("Only 1 job can be
//     executed at once", a 409 or 400) is no error: it is submitted again
//     when the Client's running job is released, and the Client runs no
//     more jobs at once than the tenant allows from then on.
//   - A 401 makes a client-credentials Client fetch a new token and retry
//     once; with a static token it is reported at once.
package extract
