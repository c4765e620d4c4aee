// Package docs holds the project's documentation in Markdown: api.md (the
// contract), invitectl.md and performance.md. It has no code; its tests keep
// the documentation true: api.md names everything the OpenAPI document and
// the code define, every relative link of every Markdown file of the
// repository resolves, and the README's walk-through runs as written against
// a freshly built service.
package docs
