// Package extract is the client of the Spark Events API: it submits export
// jobs, waits for them, and downloads the workbooks they produce.
package extract
