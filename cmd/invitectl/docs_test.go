package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"
)

// helpFlag is a flag's line in a command's --help.
var helpFlag = regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)\b`)

// TestReferenceNamesEveryFlag checks that docs/invitectl.md, the full
// reference, names every flag of every command, as its --help lists them.
func TestReferenceNamesEveryFlag(t *testing.T) {
	doc, err := os.ReadFile("../../docs/invitectl.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range append(slices.Sorted(maps.Keys(streamCommands)), "token") {
		var help bytes.Buffer
		if err := runContext(context.Background(), []string{cmd, "--help"}, io.Discard, &help); err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		flags := helpFlag.FindAllStringSubmatch(help.String(), -1)
		if len(flags) == 0 {
			t.Fatalf("%s --help lists no flags:\n%s", cmd, help.String())
		}
		for _, f := range flags {
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(f[1]) + `([^a-z-]|$)`).Match(doc) {
				t.Errorf("invitectl %s --%s: not in docs/invitectl.md", cmd, f[1])
			}
		}
	}
}
