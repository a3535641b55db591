package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseOptionsSourceTimezone(t *testing.T) {
	tests := []struct {
		zone    string
		offset  int // east of UTC, in seconds, on 2026-01-15
		wantErr bool
	}{
		{zone: "", offset: 0},
		{zone: "UTC", offset: 0},
		{zone: "Asia/Singapore", offset: 8 * 3600},
		{zone: "+08:00", offset: 8 * 3600},
		{zone: "UTC+8", offset: 8 * 3600},
		{zone: "-0530", offset: -(5*3600 + 30*60)},
		{zone: "Z", offset: 0},
		{zone: "Singapore Time", wantErr: true},
		{zone: "+25:00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			pc, err := ParseOptions{SourceTimezone: tt.zone}.compile("acme")
			if tt.wantErr {
				if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--source-timezone") || !strings.Contains(err.Error(), "UTC+8") {
					t.Fatalf("compile: %v; want a usage error naming the flag and the accepted forms", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			loc := pc.opts.Location
			if loc == nil {
				loc = time.UTC // transform's default
			}
			if _, off := time.Date(2026, 1, 15, 12, 0, 0, 0, loc).Zone(); off != tt.offset {
				t.Errorf("offset %ds, want %ds", off, tt.offset)
			}
		})
	}
}
