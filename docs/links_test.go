package docs

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestMarkdownLinksResolve checks every relative link of every Markdown file
// of the repository: it names a file inside the repository that exists, and
// its #anchor, if any, is a heading of that file (as GitHub makes their ids).
// A link outside the repository, such as ../shared/API.md, exists in no clone.
func TestMarkdownLinksResolve(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := markdownFiles(t, root)
	if !slices.Contains(files, filepath.Join(root, "README.md")) || !slices.Contains(files, filepath.Join(root, "docs", "api.md")) {
		t.Fatalf("README.md and docs/api.md are not among the Markdown files found: %q", files)
	}
	anchors := anchorsOf(t)
	checked := 0
	for _, file := range files {
		for _, dest := range parseMarkdown(t, file).links() {
			if err := checkLink(root, file, dest, anchors); err != nil {
				rel, _ := filepath.Rel(root, file)
				t.Errorf("%s: link %q: %v", rel, dest, err)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d links found: the Markdown parsing is broken", checked)
	}
}

// TestCheckLink shows that each kind of broken link is caught.
func TestCheckLink(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# The service\n\n## Walk-through with `curl`\n\n## Walk-through with `curl`\n")
	write("docs/api.md", "# API\n\n## 7. Rate limits, and Retry-After\n")
	write("main.go", "package main\n")
	from := filepath.Join(root, "docs", "api.md")
	anchors := anchorsOf(t)
	for dest, want := range map[string]string{
		"../README.md":                          "",
		"../README.md#walk-through-with-curl":   "",
		"../README.md#walk-through-with-curl-1": "",
		"#7-rate-limits-and-retry-after":        "",
		"../main.go":                            "",
		"../main.go#L1":                         "",
		"https://example.com/x.md#nothing":      "",
		"mailto:ops@example.com":                "",
		"../../shared/API.md":                   "outside the repository",
		"../NOTES.md":                           "no such file",
		"../README.md#walk-through":             "no heading",
		"#rate-limits":                          "no heading",
		"../main.go#main":                       "not Markdown",
		"/README.md":                            "absolute path",
	} {
		err := checkLink(root, from, dest, anchors)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", dest, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want an error saying %q", dest, err, want)
		}
	}
}

func TestGithubSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Audit and replay: invitectl":                           "audit-and-replay-invitectl",
		"Group commit (issue 12): before and after":             "group-commit-issue-12-before-and-after",
		"What the chain protects against, and what it does not": "what-the-chain-protects-against-and-what-it-does-not",
		"7. Rate limits":         "7-rate-limits",
		"--otlp-endpoint_x":      "--otlp-endpoint_x",
		"Adresses électroniques": "adresses-électroniques",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
}

// markdownFiles lists the repository's Markdown files, leaving out hidden
// directories (.git, .ci), test data and the service's default data directory.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || path == filepath.Join(root, "data")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// anchorsOf gives the heading ids of a Markdown file, parsing each file once.
func anchorsOf(t *testing.T) func(path string) map[string]bool {
	seen := map[string]map[string]bool{}
	return func(path string) map[string]bool {
		if _, ok := seen[path]; !ok {
			seen[path] = parseMarkdown(t, path).anchors()
		}
		return seen[path]
	}
}

// lineAnchor is GitHub's anchor to a line, or lines, of a file that is not Markdown.
var lineAnchor = regexp.MustCompile(`^L[0-9]+(-L[0-9]+)?$`)

// checkLink says what is wrong with the link dest in the Markdown file from:
// nothing for a URL with a scheme or host, which is not the repository's.
func checkLink(root, from, dest string, anchors func(string) map[string]bool) error {
	u, err := url.Parse(dest)
	if err != nil {
		return err
	}
	if u.Scheme != "" || u.Host != "" {
		return nil
	}
	if strings.HasPrefix(u.Path, "/") {
		return errors.New("an absolute path: write it relative to the file")
	}
	target := from
	if u.Path != "" {
		target = filepath.Join(filepath.Dir(from), filepath.FromSlash(u.Path))
		if rel, err := filepath.Rel(root, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return errors.New("outside the repository: it exists in no clone")
		}
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("no such file: %w", err)
		}
	}
	switch {
	case u.Fragment == "":
		return nil
	case !strings.HasSuffix(target, ".md"):
		if lineAnchor.MatchString(u.Fragment) {
			return nil
		}
		return fmt.Errorf("#%s: an anchor into a file that is not Markdown", u.Fragment)
	case !anchors(target)[u.Fragment]:
		return fmt.Errorf("no heading with the id %q in %s", u.Fragment, filepath.Base(target))
	}
	return nil
}
