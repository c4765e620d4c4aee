package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// wantJSON reports whether to print JSON: when asked, or when w is not a
// terminal (a pipe, a file), where a program rather than a person reads.
func wantJSON(w io.Writer, asked bool) bool {
	return asked || !isTerminal(w)
}

// isTerminal reports whether w is a character device, which in practice is
// a terminal. Any writer with Stat (an *os.File) is checked.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// table prints rows aligned by column.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row adds a row; write errors surface at flush.
func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// lines prints one record a line: JSON Lines, or the rows of a table.
type lines struct {
	enc *json.Encoder // nil for a table
	tab *table
}

func newLines(w io.Writer, asJSON bool, header ...string) *lines {
	if asJSON {
		return &lines{enc: json.NewEncoder(w)}
	}
	return &lines{tab: newTable(w, header...)}
}

// add prints record as JSON, or its cells as a row.
func (l *lines) add(record any, cells ...string) error {
	if l.enc != nil {
		return l.enc.Encode(record)
	}
	l.tab.row(cells...)
	return nil
}

// flush prints the rows added so far, aligned among themselves.
func (l *lines) flush() error {
	if l.tab == nil {
		return nil
	}
	return l.tab.flush()
}

// timestamp is how tables show a time: RFC 3339 in UTC, as the contract.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// printSections prints tables, each a header and rows, a blank line between.
func printSections(w io.Writer, sections ...[][]string) error {
	for i, rows := range sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		t := newTable(w, rows[0]...)
		for _, row := range rows[1:] {
			t.row(row...)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}
