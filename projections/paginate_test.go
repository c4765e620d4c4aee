package projections

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// listEntry is a record of a fakeList: its position, and whether the filter
// of a filtered list keeps it (its status, as a store would read it).
type listEntry struct {
	pos  uint64
	kept bool
}

func (e listEntry) position() uint64 { return e.pos }
func isKept(e listEntry) bool        { return e.kept }

// scanCall is one scan paginate asked for.
type scanCall struct {
	cursor uint64
	d      Direction
	n      int
}

// fakeList is a list ordered by position, scanned as the stores scan it. It
// records every scan, numbers their checkpoints 1, 2, 3..., can fail one
// scan, and lets the test change the list between two scans, as a
// projector would.
type fakeList struct {
	entries []listEntry // by ascending position
	calls   []scanCall
	failAt  int             // the scan (1-based) that fails; 0: none
	between func(*fakeList) // runs before every scan but the first
}

var errScan = errors.New("scan failed")

func (l *fakeList) scan(cursor uint64, d Direction, n int) (Scan[listEntry], error) {
	if len(l.calls) > 0 && l.between != nil {
		l.between(l)
	}
	l.calls = append(l.calls, scanCall{cursor, d, n})
	if len(l.calls) == l.failAt {
		return Scan[listEntry]{}, errScan
	}
	sc := Scan[listEntry]{Checkpoint: uint64(len(l.calls))}
	if d == Newer {
		for _, e := range l.entries {
			if e.pos > cursor && len(sc.Items) < n {
				sc.Items = append(sc.Items, e)
			}
		}
		return sc, nil
	}
	for _, e := range slices.Backward(l.entries) {
		if (cursor == 0 || e.pos < cursor) && len(sc.Items) < n {
			sc.Items = append(sc.Items, e)
		}
	}
	return sc, nil
}

// insert adds an entry at its place.
func (l *fakeList) insert(e listEntry) {
	i, _ := slices.BinarySearchFunc(l.entries, e.pos, func(x listEntry, p uint64) int { return cmp.Compare(x.pos, p) })
	l.entries = slices.Insert(l.entries, i, e)
}

func (l *fakeList) paginate(keep func(listEntry) bool, req PageRequest) (Page[listEntry], uint64, error) {
	return paginate(l.scan, listEntry.position, keep, req)
}

// newFakeList makes a fakeList of the positions from..to, every one kept unless
// drop says otherwise.
func newFakeList(from, to uint64, drop func(uint64) bool) *fakeList {
	l := &fakeList{}
	for p := from; p <= to; p++ {
		l.entries = append(l.entries, listEntry{pos: p, kept: drop == nil || !drop(p)})
	}
	return l
}

func positionsOf(es []listEntry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.pos)
	}
	return out
}

func notMultipleOf(k uint64) func(uint64) bool { return func(p uint64) bool { return p%k != 0 } }

// TestPaginate cuts pages out of lists of ten records (positions 1 to 10)
// and of filtered lists, checking the items, the flags, the checkpoint
// (the last scan's) and, where it matters, the very scans made.
func TestPaginate(t *testing.T) {
	tests := []struct {
		name       string
		list       *fakeList // nil: positions 1 to 10
		filtered   bool
		req        PageRequest
		want       []uint64
		next, prev bool
		// calls, when set, are exactly the scans the page takes.
		calls []scanCall
	}{
		{name: "empty list", list: newFakeList(1, 0, nil), req: PageRequest{Limit: 3}, want: []uint64{},
			calls: []scanCall{{0, Older, 4}}},
		{name: "first page", req: PageRequest{Limit: 3}, want: []uint64{10, 9, 8}, next: true,
			calls: []scanCall{{0, Older, 4}}},
		{name: "first page is the whole list", list: newFakeList(1, 3, nil), req: PageRequest{Limit: 3}, want: []uint64{3, 2, 1}},
		{name: "first page, one short of the limit", list: newFakeList(1, 2, nil), req: PageRequest{Limit: 3}, want: []uint64{2, 1}},
		{name: "limit 1", req: PageRequest{Limit: 1}, want: []uint64{10}, next: true},
		{name: "after, in the middle", req: PageRequest{Limit: 3, StartingAfter: 8},
			want: []uint64{7, 6, 5}, next: true, prev: true,
			calls: []scanCall{{8, Older, 4}, {7, Newer, 1}}},
		{name: "after, the last page", req: PageRequest{Limit: 3, StartingAfter: 3},
			want: []uint64{2, 1}, prev: true},
		{name: "after, the last page exactly full", req: PageRequest{Limit: 3, StartingAfter: 4},
			want: []uint64{3, 2, 1}, prev: true},
		{name: "after the oldest", req: PageRequest{Limit: 3, StartingAfter: 1},
			want: []uint64{}, prev: true, calls: []scanCall{{1, Older, 4}, {0, Newer, 1}}},
		{name: "after the newest", req: PageRequest{Limit: 3, StartingAfter: 10},
			want: []uint64{9, 8, 7}, next: true, prev: true},
		{name: "after a position above the list", req: PageRequest{Limit: 3, StartingAfter: 20},
			want: []uint64{10, 9, 8}, next: true},
		{name: "before, in the middle", req: PageRequest{Limit: 3, EndingBefore: 4},
			want: []uint64{7, 6, 5}, next: true, prev: true,
			calls: []scanCall{{4, Newer, 4}, {5, Older, 1}}},
		{name: "before, the first page", req: PageRequest{Limit: 3, EndingBefore: 8},
			want: []uint64{10, 9}, next: true},
		{name: "before, the first page exactly full", req: PageRequest{Limit: 3, EndingBefore: 7},
			want: []uint64{10, 9, 8}, next: true},
		{name: "before the newest", req: PageRequest{Limit: 3, EndingBefore: 10},
			want: []uint64{}, next: true, calls: []scanCall{{10, Newer, 4}, {10, Older, 1}}},
		{name: "before the oldest", req: PageRequest{Limit: 3, EndingBefore: 1},
			want: []uint64{4, 3, 2}, next: true, prev: true},
		{name: "before the only one", list: newFakeList(5, 5, nil), req: PageRequest{Limit: 3, EndingBefore: 5},
			want: []uint64{}},

		// Filtered: scans of at least 32, as many as it takes.
		{name: "filtered, one scan", list: newFakeList(1, 100, notMultipleOf(2)), filtered: true, req: PageRequest{Limit: 3},
			want: []uint64{100, 98, 96}, next: true, calls: []scanCall{{0, Older, 32}}},
		{name: "filtered, four scans", list: newFakeList(1, 200, notMultipleOf(50)), filtered: true, req: PageRequest{Limit: 2},
			want: []uint64{200, 150}, next: true,
			calls: []scanCall{{0, Older, 32}, {169, Older, 32}, {137, Older, 32}, {105, Older, 32}}},
		{name: "filtered, the scans reach the end", list: newFakeList(1, 200, notMultipleOf(50)), filtered: true, req: PageRequest{Limit: 4},
			want:  []uint64{200, 150, 100, 50},
			calls: []scanCall{{0, Older, 32}, {169, Older, 32}, {137, Older, 32}, {105, Older, 32}, {73, Older, 32}, {41, Older, 32}, {9, Older, 32}}},
		{name: "filtered, nothing kept", list: newFakeList(1, 70, func(uint64) bool { return true }), filtered: true, req: PageRequest{Limit: 10},
			want: []uint64{}, calls: []scanCall{{0, Older, 32}, {39, Older, 32}, {7, Older, 32}}},
		{name: "filtered, limit above the chunk", list: newFakeList(1, 200, notMultipleOf(2)), filtered: true, req: PageRequest{Limit: 40},
			want: evenPositions(200, 122), next: true, calls: []scanCall{{0, Older, 41}, {160, Older, 41}}},
		{name: "filtered, after", list: newFakeList(1, 200, notMultipleOf(50)), filtered: true, req: PageRequest{Limit: 1, StartingAfter: 150},
			want: []uint64{100}, next: true, prev: true,
			calls: []scanCall{{150, Older, 32}, {118, Older, 32}, {86, Older, 32}, {54, Older, 32}, {100, Newer, 32}, {132, Newer, 32}}},
		{name: "filtered, before", list: newFakeList(1, 200, notMultipleOf(50)), filtered: true, req: PageRequest{Limit: 1, EndingBefore: 50},
			want: []uint64{100}, next: true, prev: true},
		{name: "filtered, before the newest kept", list: newFakeList(1, 200, notMultipleOf(50)), filtered: true, req: PageRequest{Limit: 2, EndingBefore: 200},
			want: []uint64{}, next: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keep func(listEntry) bool
			if tt.filtered {
				keep = isKept
			}
			l := tt.list
			if l == nil {
				l = newFakeList(1, 10, nil)
			}
			page, cp, err := l.paginate(keep, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := positionsOf(page.Items); !slices.Equal(got, tt.want) {
				t.Errorf("items %v, want %v", got, tt.want)
			}
			if page.HasNext != tt.next || page.HasPrev != tt.prev {
				t.Errorf("has next %v, has prev %v; want %v, %v", page.HasNext, page.HasPrev, tt.next, tt.prev)
			}
			if tt.calls != nil && !slices.Equal(l.calls, tt.calls) {
				t.Errorf("scans %v, want %v", l.calls, tt.calls)
			}
			if cp != uint64(len(l.calls)) {
				t.Errorf("checkpoint %d, want the last scan's, %d", cp, len(l.calls))
			}
		})
	}
}

// evenPositions lists the even positions from high down to low.
func evenPositions(high, low uint64) []uint64 {
	var out []uint64
	for p := high; p >= low; p -= 2 {
		out = append(out, p)
	}
	return out
}

// TestPaginateMatchesAModel compares paginate with a plain reading of the
// rules, over random lists, filters, limits and cursors: a page after c is
// the first kept records below c, newest first; a page before c the last
// kept records above it; has-next says a kept record is older than the
// page's oldest (than the cursor, for an empty page before it), has-prev one
// newer than the page's newest (at or above the cursor, for an empty page
// after it).
func TestPaginateMatchesAModel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for run := range 300 {
		l := &fakeList{}
		size := uint64(r.IntN(120))
		for p := uint64(1); p <= size; p++ {
			if r.IntN(4) > 0 { // positions with holes, as buckets have
				l.entries = append(l.entries, listEntry{pos: p, kept: r.IntN(3) > 0})
			}
		}
		var keep func(listEntry) bool
		var all []uint64 // what the filter keeps, newest first
		for _, e := range slices.Backward(l.entries) {
			if e.kept || run%2 == 0 {
				all = append(all, e.pos)
			}
		}
		if run%2 == 1 {
			keep = isKept
		}
		limit := 1 + r.IntN(12)
		for cursor := uint64(0); cursor <= 125; cursor++ {
			for _, before := range []bool{false, true} {
				if before && cursor == 0 {
					continue
				}
				req := PageRequest{Limit: limit, StartingAfter: cursor}
				if before {
					req = PageRequest{Limit: limit, EndingBefore: cursor}
				}
				l.calls = nil
				page, _, err := l.paginate(keep, req)
				if err != nil {
					t.Fatal(err)
				}
				want := modelPage(all, req)
				if got := positionsOf(page.Items); !slices.Equal(got, want.items) || page.HasNext != want.next || page.HasPrev != want.prev {
					t.Fatalf("run %d, list %v, %+v: items %v, next %v, prev %v; want %v, %v, %v",
						run, all, req, got, page.HasNext, page.HasPrev, want.items, want.next, want.prev)
				}
			}
		}
	}
}

type modelAnswer struct {
	items      []uint64
	next, prev bool
}

// modelPage pages through all, the kept positions newest first.
func modelPage(all []uint64, req PageRequest) modelAnswer {
	var a modelAnswer
	exists := func(ok func(uint64) bool) bool { return slices.ContainsFunc(all, ok) }
	if req.EndingBefore != 0 {
		var newer []uint64 // oldest first
		for _, p := range slices.Backward(all) {
			if p > req.EndingBefore {
				newer = append(newer, p)
			}
		}
		a.prev = len(newer) > req.Limit
		a.items = newer[:min(len(newer), req.Limit)]
		slices.Reverse(a.items)
		oldest := req.EndingBefore
		if len(a.items) > 0 {
			oldest = a.items[len(a.items)-1]
		}
		a.next = exists(func(p uint64) bool { return p < oldest })
		return a
	}
	var older []uint64
	for _, p := range all {
		if req.StartingAfter == 0 || p < req.StartingAfter {
			older = append(older, p)
		}
	}
	a.next = len(older) > req.Limit
	a.items = older[:min(len(older), req.Limit)]
	if req.StartingAfter != 0 {
		a.prev = exists(func(p uint64) bool { return p >= req.StartingAfter })
	}
	if a.items == nil {
		a.items = []uint64{}
	}
	return a
}

// TestPaginateWithInsertsInFlight pages through a list while newer records
// arrive and some leave the filter between any two scans: paging on from
// each page's last record never repeats one, and never skips one that
// stayed in the filter.
func TestPaginateWithInsertsInFlight(t *testing.T) {
	for _, filtered := range []bool{false, true} {
		t.Run(fmt.Sprint("filtered=", filtered), func(t *testing.T) {
			l := newFakeList(1, 300, notMultipleOf(3))
			var keep func(listEntry) bool
			if filtered {
				keep = isKept
			}
			next := uint64(301)
			l.between = func(l *fakeList) {
				l.insert(listEntry{pos: next, kept: true})
				next++
				// The newest record at or below 150 that is kept leaves
				// the filter (an invitation accepted meanwhile).
				for i := range slices.Backward(l.entries) {
					if e := &l.entries[i]; e.pos <= 150 && e.kept {
						e.kept = false
						break
					}
				}
			}
			seen := map[uint64]bool{}
			req := PageRequest{Limit: 7}
			for pages := 0; ; pages++ {
				if pages > 500 {
					t.Fatal("paging does not end")
				}
				page, _, err := l.paginate(keep, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Items {
					if seen[e.pos] {
						t.Fatalf("%d shown twice", e.pos)
					}
					if e.pos > 300 {
						t.Fatalf("%d, newer than the first page, shown while paging to older ones", e.pos)
					}
					seen[e.pos] = true
				}
				if !page.HasNext {
					break
				}
				req.StartingAfter = page.Items[len(page.Items)-1].pos
			}
			for _, e := range l.entries {
				if e.pos <= 300 && (!filtered || e.kept) && !seen[e.pos] {
					t.Errorf("%d skipped, though it stayed in the list", e.pos)
				}
			}
		})
	}
}

// TestPaginateBackwardsSeesNewRecords pages towards the newest with
// ending_before while records arrive: every one arrived before the pager
// reached the top is shown, once, newest first within each page.
func TestPaginateBackwardsSeesNewRecords(t *testing.T) {
	l := newFakeList(1, 50, nil)
	next := uint64(51)
	l.between = func(l *fakeList) {
		if next <= 80 {
			l.insert(listEntry{pos: next, kept: true})
			next++
		}
	}
	var shown []uint64
	req := PageRequest{Limit: 4, EndingBefore: 1}
	for {
		page, _, err := l.paginate(nil, req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(page.Items, func(a, b listEntry) int { return cmp.Compare(b.pos, a.pos) }) {
			t.Fatalf("page %v is not newest first", positionsOf(page.Items))
		}
		shown = append(positionsOf(page.Items), shown...)
		if !page.HasPrev {
			break
		}
		req.EndingBefore = page.Items[0].pos
	}
	want := []uint64{}
	for p := next - 1; p >= 2; p-- {
		want = append(want, p)
	}
	if !slices.Equal(shown, want) {
		t.Fatalf("shown %v, want %v", shown, want)
	}
}

// TestPaginatePassesOnScanErrors: a failed scan, the page's own or the one
// that looks past it, fails the page.
func TestPaginatePassesOnScanErrors(t *testing.T) {
	for _, req := range []PageRequest{{Limit: 3}, {Limit: 3, StartingAfter: 5}, {Limit: 3, EndingBefore: 5}} {
		for failAt := 1; failAt <= 2; failAt++ {
			if req.StartingAfter == 0 && req.EndingBefore == 0 && failAt == 2 {
				continue // the first page takes one scan
			}
			l := newFakeList(1, 10, nil)
			l.failAt = failAt
			if _, _, err := l.paginate(nil, req); !errors.Is(err, errScan) {
				t.Errorf("%+v, scan %d failing: error %v", req, failAt, err)
			}
		}
	}
}
