// Package pipeline orchestrates extract, transform and load: it plans
// windows from the watermark, runs them, and records each run.
package pipeline
