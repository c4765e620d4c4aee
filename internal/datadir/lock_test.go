package datadir_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/invitesvc/invitesvc/internal/datadir"
)

// TestOneHolderAtATime: a second lock on the directory is refused with a
// message naming the directory and the holder's PID, until the first is
// released.
func TestOneHolderAtATime(t *testing.T) {
	dir := t.TempDir()
	release, err := datadir.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = datadir.Lock(dir)
	if err == nil {
		t.Fatal("a second lock on a held directory succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, fmt.Sprint(os.Getpid())) {
		t.Fatalf("the refusal names neither the directory nor the holder: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	again, err := datadir.Lock(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}
