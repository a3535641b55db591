package pipeline

import (
	"errors"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2026-03-02", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), false},
		{"2026-03-02T15:08:00.250Z", time.Date(2026, 3, 2, 15, 8, 0, 250e6, time.UTC), false},
		{"2026-03-02T17:08:00+02:00", time.Date(2026, 3, 2, 15, 8, 0, 0, time.UTC), false},
		{"2026-03-02 15:08:00", time.Date(2026, 3, 2, 15, 8, 0, 0, time.UTC), false},
		{"720h", now.Add(-720 * time.Hour), false},
		{"30d", now.Add(-30 * 24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"yesterday", time.Time{}, true},
		{"-5h", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if tt.wantErr {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("ParseTime(%q) error = %v, want ErrUsage", tt.in, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestPlanWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		from, to time.Time
		size     time.Duration
		want     []Window
	}{
		{"empty", t0, t0, time.Hour, nil},
		{"reversed", t0.Add(time.Hour), t0, time.Hour, nil},
		{"exact", t0, t0.Add(2 * time.Hour), time.Hour, []Window{{t0, t0.Add(time.Hour)}, {t0.Add(time.Hour), t0.Add(2 * time.Hour)}}},
		{"short last", t0, t0.Add(90 * time.Minute), time.Hour, []Window{{t0, t0.Add(time.Hour)}, {t0.Add(time.Hour), t0.Add(90 * time.Minute)}}},
	}
	for _, tt := range tests {
		got := PlanWindows(tt.from, tt.to, tt.size)
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if !got[i].Start.Equal(tt.want[i].Start) || !got[i].End.Equal(tt.want[i].End) {
				t.Errorf("%s: window %d = %v, want %v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}
