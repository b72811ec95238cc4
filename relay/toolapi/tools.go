package toolapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// pageSize is the most tools one tools/list answer holds.
const pageSize = 1000

// entry is one registered tool: a backend tool, or a placeholder that
// explains why the backend's tools are not available.
type entry struct {
	def         toolDef
	api         Tool
	placeholder bool
}

// toolDef is a tool definition as listed to the client. The input schema
// is the backend's, as sent.
type toolDef struct {
	Annotations struct{}        `json:"annotations"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema"`
	Name        string          `json:"name"`
}

// listTools answers tools/list from the cache, refreshed from the backend
// when stale, a page of pageSize tools at a time. The cursor is the
// base64 of the last name of the previous page.
func (u *Upstream) listTools(ctx context.Context, r *front.Call) (*front.Message, error) {
	var p struct {
		Cursor string `json:"cursor"`
	}
	_ = json.Unmarshal(r.Params, &p)
	u.refresh(ctx, false)
	tools := u.list()
	start := 0
	if p.Cursor != "" {
		c, err := base64.StdEncoding.DecodeString(p.Cursor)
		if err != nil {
			return front.Fail(r.ID, mcp.CodeInvalidParams, err.Error()), nil
		}
		start = sort.Search(len(tools), func(i int) bool { return tools[i].Name > string(c) })
	}
	end := min(len(tools), start+pageSize)
	res := struct {
		NextCursor string    `json:"nextCursor,omitempty"`
		Tools      []toolDef `json:"tools"`
	}{Tools: tools[start:end]}
	if end < len(tools) {
		res.NextCursor = base64.StdEncoding.EncodeToString([]byte(tools[end-1].Name))
	}
	return front.Result(r.ID, front.Object(res)), nil
}

// refresh fetches the backend's list when the cache is stale (or force),
// and registers its tools. A failure keeps the last list; it is logged,
// and returned.
func (u *Upstream) refresh(ctx context.Context, force bool) error {
	u.mu.Lock()
	fresh := !u.fetched.IsZero() && u.cfg.Now().Sub(u.fetched) < u.cfg.ListTTL
	u.mu.Unlock()
	if fresh && !force {
		return nil
	}
	list, err := u.api.ListTools(ctx)
	if err != nil {
		u.cfg.Logger.Warn("could not list the backend's tools", "err", err)
		u.warn(ctx, "keyrelay could not list the backend's tools: "+front.Text(err))
		return err
	}
	u.install(list)
	return nil
}

// install replaces the registered tools with list, and tells the client
// when their names changed. A tool whose x-mcp-header annotations break
// the rules is left out, as a server must.
func (u *Upstream) install(list []Tool) {
	u.reg.Lock()
	defer u.reg.Unlock()
	byName := make(map[string]entry, len(list))
	names := make([]string, 0, len(list))
	for _, t := range list {
		if err := mcp.ValidateHeaders(t.InputSchema); err != nil {
			u.cfg.Logger.Warn("skipping a tool the backend listed with a bad schema", "tool", front.Scrub(t.Name), "err", err)
			continue
		}
		if _, dup := byName[t.Name]; !dup {
			names = append(names, t.Name)
		}
		byName[t.Name] = entry{def: toolDef{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}, api: t}
	}
	sort.Strings(names)
	joined := strings.Join(names, "\x00")
	u.mu.Lock()
	changed := joined != u.names
	u.tools, u.names, u.fetched = byName, joined, u.cfg.Now()
	u.mu.Unlock()
	if changed {
		u.listChanged()
	}
}

// maxPlaceholders bounds the placeholder tools a client can cause.
const maxPlaceholders = 64

// placeholder registers name, which the client called while the backend
// could not list its tools, as a tool that explains why it cannot be
// called. The next successful list replaces it.
func (u *Upstream) placeholder(name string) {
	if name == "" || len(name) > 128 || u.placeholders() >= maxPlaceholders {
		return // a client calling made-up names cannot grow the list without bound
	}
	u.reg.Lock()
	u.mu.Lock()
	_, known := u.tools[name]
	if !known {
		def := toolDef{Name: name, Description: "keyrelay cannot reach or use the backend; call this to see why", InputSchema: json.RawMessage(`{"type":"object"}`)}
		u.tools[name] = entry{def: def, api: Tool{Name: name}, placeholder: true}
		u.names = "" // the next successful list re-registers everything
	}
	u.mu.Unlock()
	u.reg.Unlock()
	if !known {
		u.listChanged()
	}
}

func (u *Upstream) placeholders() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, t := range u.tools {
		if t.placeholder {
			n++
		}
	}
	return n
}

func (u *Upstream) entry(name string) (entry, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.tools[name]
	return t, ok
}

// list returns the registered tools' definitions, sorted by name.
func (u *Upstream) list() []toolDef {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]toolDef, 0, len(u.tools))
	for _, t := range u.tools {
		out = append(out, t.def)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
