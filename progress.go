package main

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// bar draws pipeline progress on a terminal.
type bar struct {
	w      io.Writer
	cur    *progressbar.ProgressBar
	ofRows bool // the bar counts rows, not windows
}

func (b *bar) Start(label string, total int64) {
	b.ofRows = label == "rows"
	b.cur = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(label),
		progressbar.OptionThrottle(100e6),
		progressbar.OptionClearOnFinish(),
	)
}

func (b *bar) Add(n int64) {
	if b.cur != nil {
		b.cur.Add64(n)
	}
}

func (b *bar) Rows(n int64) {
	if b.ofRows {
		b.Add(n)
	}
}

func (b *bar) Describe(text string) {
	if b.cur != nil {
		b.cur.Describe(text)
	}
}

func (b *bar) Finish() {
	if b.cur != nil {
		b.cur.Finish()
		b.cur = nil
	}
}
