package docs

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
)

// repoRoot is the repository's root, seen from this package's directory.
const repoRoot = ".."

// markdown is a parsed Markdown file.
type markdown struct {
	source []byte
	root   ast.Node
}

func parseMarkdown(t *testing.T, path string) *markdown {
	t.Helper()
	source, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &markdown{source: source, root: goldmark.DefaultParser().Parse(text.NewReader(source))}
}

// text is what a node shows: its text, without the markup.
func (m *markdown) text(n ast.Node) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(m.source))
			if c.SoftLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// links are the destinations of the file's links and images.
func (m *markdown) links() []string {
	var out []string
	_ = ast.Walk(m.root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			switch n := n.(type) {
			case *ast.Link:
				out = append(out, string(n.Destination))
			case *ast.Image:
				out = append(out, string(n.Destination))
			}
		}
		return ast.WalkContinue, nil
	})
	return out
}

// anchors are the ids GitHub gives the file's headings: the slug of each
// heading's text, "-1", "-2"... appended to repeats.
func (m *markdown) anchors() map[string]bool {
	ids := map[string]bool{}
	repeats := map[string]int{}
	_ = ast.Walk(m.root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if h, ok := n.(*ast.Heading); ok && entering {
			slug := githubSlug(m.text(h))
			id := slug
			for ids[id] {
				repeats[slug]++
				id = slug + "-" + strconv.Itoa(repeats[slug])
			}
			ids[id] = true
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	return ids
}

// githubSlug is the id GitHub gives a heading: its text in lower case,
// spaces as hyphens, every character but letters, digits, marks, hyphens
// and underscores dropped.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.In(r, unicode.Letter, unicode.Mark, unicode.Number):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// codeBlocks are the fenced code blocks of language lang in the section
// under the heading titled title, up to the next heading.
func (m *markdown) codeBlocks(title, lang string) []string {
	var blocks []string
	in := false
	for n := m.root.FirstChild(); n != nil; n = n.NextSibling() {
		switch n := n.(type) {
		case *ast.Heading:
			if in {
				return blocks
			}
			in = m.text(n) == title
		case *ast.FencedCodeBlock:
			if !in || string(n.Language(m.source)) != lang {
				continue
			}
			var b strings.Builder
			for i := 0; i < n.Lines().Len(); i++ {
				line := n.Lines().At(i)
				b.Write(line.Value(m.source))
			}
			blocks = append(blocks, b.String())
		}
	}
	return blocks
}
