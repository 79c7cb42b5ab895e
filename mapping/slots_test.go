package mapping_test

import (
	"testing"
	"time"

	"medsync/mapping"
)

func at(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, loc)
}

func ptr(t time.Time) *time.Time { return &t }

func TestDeriveSlots(t *testing.T) {
	day := func(h, m int) time.Time { return at(moscow, 2025, 3, 20, h, m) }
	base := mapping.Shift{ID: "s1", DoctorID: "7", BranchID: "1", Start: day(9, 0), End: day(12, 0), Room: "101", SlotMinutes: 30}
	type cell struct {
		start string
		free  bool
	}
	tests := []struct {
		name  string
		shift func(s *mapping.Shift)
		busy  []mapping.Interval
		from  time.Time
		want  []cell
	}{
		{"plain", nil, nil, time.Time{}, []cell{{"09:00", true}, {"09:30", true}, {"10:00", true}, {"10:30", true}, {"11:00", true}, {"11:30", true}}},
		{"break", func(s *mapping.Shift) { s.BreakStart, s.BreakEnd = ptr(day(10, 15)), ptr(day(10, 45)) }, nil, time.Time{},
			[]cell{{"09:00", true}, {"09:30", true}, {"10:45", true}, {"11:15", true}}},
		{"past cutoff", nil, nil, day(10, 10), []cell{{"10:30", true}, {"11:00", true}, {"11:30", true}}},
		{"busy overlap", nil, []mapping.Interval{{day(9, 45), day(10, 15)}, {day(11, 30), day(11, 30)}}, time.Time{},
			[]cell{{"09:00", true}, {"09:30", false}, {"10:00", false}, {"10:30", true}, {"11:00", true}, {"11:30", false}}},
		{"busy touching is free", nil, []mapping.Interval{{day(8, 0), day(9, 0)}, {day(12, 0), day(13, 0)}}, time.Time{},
			[]cell{{"09:00", true}, {"09:30", true}, {"10:00", true}, {"10:30", true}, {"11:00", true}, {"11:30", true}}},
		{"uneven end", func(s *mapping.Shift) { s.SlotMinutes = 40 }, nil, time.Time{}, []cell{{"09:00", true}, {"09:40", true}, {"10:20", true}, {"11:00", true}}},
		{"no slot length", func(s *mapping.Shift) { s.SlotMinutes = 0; s.End = day(10, 0) }, nil, time.Time{}, []cell{{"09:00", true}, {"09:30", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := base
			if tt.shift != nil {
				tt.shift(&sh)
			}
			got := mapping.DeriveSlots(&sh, tt.busy, tt.from)
			if len(got) != len(tt.want) {
				t.Fatalf("%d slots, want %d: %v", len(got), len(tt.want), got)
			}
			for i, s := range got {
				if s.Start.Format("15:04") != tt.want[i].start || s.Free != tt.want[i].free {
					t.Errorf("slot %d: %s free=%v, want %s free=%v", i, s.Start.Format("15:04"), s.Free, tt.want[i].start, tt.want[i].free)
				}
				if s.DoctorID != "7" || s.BranchID != "1" || s.ShiftID != "s1" || s.Room != "101" || !s.End.After(s.Start) {
					t.Errorf("slot %d: %+v", i, s)
				}
				if s.ID != mapping.SlotID("7", s.Start) || len(s.ID) != 36 {
					t.Errorf("slot %d: id %q", i, s.ID)
				}
			}
		})
	}
}

func TestSlotIDStable(t *testing.T) {
	start := at(moscow, 2025, 3, 20, 9, 0)
	id := mapping.SlotID("7", start)
	// The same instant in another zone gives the same id; another doctor or time does not.
	if mapping.SlotID("7", start.UTC()) != id {
		t.Error("slot id depends on the zone of the time value")
	}
	if mapping.SlotID("8", start) == id || mapping.SlotID("7", start.Add(time.Minute)) == id {
		t.Error("slot ids collide")
	}
	// Fixed forever: external systems keep slot ids.
	if want := "d9e0043e-269f-503c-b0a0-e3fdafd21fcc"; id != want {
		t.Errorf("slot id of doctor 7 at %s is %s, was %s: slot ids must never change", start, id, want)
	}
}

func TestDeriveSlotsDST(t *testing.T) {
	berlin := mustZone("Europe/Berlin")
	// 2025-03-30: clocks jump from 02:00 to 03:00. A shift 00:00–06:00 local lasts 5 hours.
	sh := &mapping.Shift{ID: "n", DoctorID: "1", BranchID: "1", Start: at(berlin, 2025, 3, 30, 0, 0), End: at(berlin, 2025, 3, 30, 6, 0), SlotMinutes: 60}
	got := mapping.DeriveSlots(sh, nil, time.Time{})
	var starts []string
	for _, s := range got {
		starts = append(starts, s.Start.Format("15:04 MST"))
		if s.End.Sub(s.Start) != time.Hour {
			t.Errorf("slot %s lasts %s", s.Start, s.End.Sub(s.Start))
		}
	}
	want := []string{"00:00 CET", "01:00 CET", "03:00 CEST", "04:00 CEST", "05:00 CEST"}
	if len(starts) != len(want) {
		t.Fatalf("spring forward: %v, want %v", starts, want)
	}
	for i := range want {
		if starts[i] != want[i] {
			t.Errorf("spring forward: %v, want %v", starts, want)
			break
		}
	}
	// 2025-10-26: 03:00 CEST becomes 02:00 CET; a shift 00:00–04:00 lasts 5 hours.
	sh = &mapping.Shift{ID: "n", DoctorID: "1", BranchID: "1", Start: at(berlin, 2025, 10, 26, 0, 0), End: at(berlin, 2025, 10, 26, 4, 0), SlotMinutes: 60}
	got = mapping.DeriveSlots(sh, nil, time.Time{})
	if len(got) != 5 {
		t.Fatalf("fall back: %d slots, want 5", len(got))
	}
	ids := map[string]bool{}
	for _, s := range got {
		if ids[s.ID] {
			t.Errorf("fall back: duplicate slot id at %s", s.Start)
		}
		ids[s.ID] = true
	}
}
