package projections_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/invitesvc/invitesvc/domain"
	"github.com/invitesvc/invitesvc/projections"
	"github.com/invitesvc/invitesvc/projections/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) projections.Store { return projections.NewMemoryStore() })
}

// TestMemoryStoreSize keeps the store within its budget of 1 KiB per
// invitation, with realistic field sizes, half of them resent.
func TestMemoryStoreSize(t *testing.T) {
	const n = 20000
	ctx := t.Context()
	created := time.Date(2026, 11, 23, 9, 42, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	s := projections.NewMemoryStore()
	pos := uint64(0)
	for i := range n {
		token := sha256.Sum256(fmt.Appendf(nil, "token-%d", i))
		pos++
		inv := projections.Invitation{Position: pos, Invitation: domain.Invitation{
			ID:             fmt.Sprintf("01936f3e-%04x-7000-8000-%012x", i%0x10000, i),
			OrganizationID: fmt.Sprintf("org-%d", i%10),
			Email:          fmt.Sprintf("someone.%d@example.com", i),
			Role:           domain.RoleMember,
			TokenSHA256:    hex.EncodeToString(token[:]),
			CreatedAt:      created, CreatedBy: fmt.Sprintf("user-%d", i%100),
			ExpiresAt: created.Add(7 * 24 * time.Hour), Version: 1,
		}}
		if err := s.Apply(ctx, projections.Write{Position: pos, Invitation: &inv}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			continue
		}
		token = sha256.Sum256(fmt.Appendf(nil, "token-%d-2", i))
		inv.TokenSHA256, inv.Version = hex.EncodeToString(token[:]), 2
		pos++
		if err := s.Apply(ctx, projections.Write{Position: pos, Invitation: &inv}); err != nil {
			t.Fatal(err)
		}
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	perInvitation := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes per invitation", perInvitation)
	if perInvitation > 1024 {
		t.Fatalf("%d bytes per invitation; the budget is 1024", perInvitation)
	}
}
