package mcphttp

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// A 2026-07-28 client takes no requests from the server: a server that
// needs sampling, an elicitation or the roots returns an input_required
// result, and the client retries the request with inputResponses and the
// requestState it was given (multi round-trip requests, SEP-2322). A
// 2025-era server sends those requests instead, on the stream of the call
// they belong to. The proxy maps one onto the other: it holds the server's
// call open, answers the client with input_required and a requestState of
// its own (state.go), and on the retry answers the server's requests and
// goes on waiting for the call's result, which may need more input.
//
// A server request belongs to the call on whose stream it comes. mcp-go's
// server (v1.2) sends sampling on the GET stream even during a call, so a
// request on the GET stream goes to the one call of a 2026-07-28 client in
// flight, if there is exactly one; with none or several it cannot be
// placed, and the server gets an error (serverRequest).

// mappable are the server requests the 2026-07-28 era has as input
// requests.
func mappable(method string) bool {
	switch method {
	case mcp.MethodSamplingCreateMessage, mcp.MethodElicitationCreate, mcp.MethodRootsList:
		return true
	}
	return false
}

// mayNeedInput are the requests whose 2026-07-28 result may be
// input_required.
func mayNeedInput(method string) bool {
	switch method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet, mcp.MethodResourcesRead:
		return true
	}
	return false
}

// roundTrip is one client request held at a 2025-era server across the
// client's retries.
type roundTrip struct {
	upID    json.RawMessage // the request's id at the server
	cancel  context.CancelFunc
	result  chan outcome  // the server's answer, once
	asks    chan *heldAsk // server requests made meanwhile
	done    chan struct{} // closed when abandoned
	once    sync.Once
	held    map[string]*heldAsk // passed to the client, by input request key
	next    int
	abandon func(reason string)
}

type outcome struct {
	resp *front.Message
	err  error
}

// heldAsk is one server request waiting for the client's retry.
type heldAsk struct {
	ctx    context.Context // ends if the server cancels it
	req    *front.Message
	answer chan *front.Message
}

// errAbandoned answers the server's held requests when the client will
// not answer them.
var errAbandoned = errors.New("the client did not answer the request for input")

// hold waits for the client's answer to a server request made during rt's
// call. Requests the 2026-07-28 era cannot express get a JSON-RPC error.
func (rt *roundTrip) hold(ctx context.Context, req *front.Message) (*front.Message, error) {
	if !mappable(req.Method) {
		return front.Fail(req.ID, mcp.CodeMethodNotFound, "keyrelay cannot pass "+front.Scrub(req.Method)+" to a 2026-07-28 client"), nil
	}
	h := &heldAsk{ctx: ctx, req: req, answer: make(chan *front.Message, 1)}
	select {
	case rt.asks <- h:
	default:
		return front.Fail(req.ID, mcp.CodeInternalError, "too many requests for input at once"), nil
	}
	select {
	case a := <-h.answer:
		return a, nil
	case <-rt.done:
		return nil, errAbandoned
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// mrtr serves a 2026-07-28 client's request on a 2025-era session: a new
// call, or the retry of one that needed input.
func (p *Upstream) mrtr(ctx context.Context, m *front.Message) (*front.Message, error) {
	var r struct {
		State     string                     `json:"requestState"`
		Responses map[string]json.RawMessage `json:"inputResponses"`
	}
	_ = json.Unmarshal(m.Params, &r)
	if r.State == "" {
		return p.await(ctx, p.startRoundTrip(ctx, m), m)
	}
	rt, err := p.states.take(r.State, m.Method, callName(m.Params))
	if err != nil {
		p.log.Debug("refused a retry", "method", front.Scrub(m.Method), "err", err)
		return front.Fail(m.ID, mcp.CodeInvalidParams, err.Error()), nil
	}
	rt.deliver(r.Responses)
	return p.await(ctx, rt, m)
}

// startRoundTrip sends m to the server on a context of its own, which
// outlives the client's request until the round trip ends.
func (p *Upstream) startRoundTrip(ctx context.Context, m *front.Message) *roundTrip {
	upCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(p.ctx, cancel)
	rt := &roundTrip{upID: m.ID, result: make(chan outcome, 1), asks: make(chan *heldAsk, 16), done: make(chan struct{})}
	rt.cancel = func() { stop(); cancel() }
	p.trips.add(rt)
	rt.abandon = func(reason string) {
		rt.once.Do(func() {
			p.trips.remove(rt)
			close(rt.done)
			rt.cancel()
			p.log.Debug("gave up a request waiting for input", "reason", reason)
			p.sendUp(front.Notification(mcp.MethodNotificationCancelled, map[string]any{"requestId": rt.upID, "reason": reason}))
		})
	}
	upCtx = withTrip(upCtx, rt)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		resp, err := p.toLegacy(upCtx, m)
		rt.result <- outcome{resp, err}
	}()
	return rt
}

// await waits for the server's result, or for its requests, which it
// passes to the client as an input_required result.
func (p *Upstream) await(ctx context.Context, rt *roundTrip, m *front.Message) (*front.Message, error) {
	for {
		select {
		case o := <-rt.result:
			rt.once.Do(func() { p.trips.remove(rt); close(rt.done); rt.cancel() })
			return o.resp, o.err
		case h := <-rt.asks:
			if res := p.inputRequired(rt, h, m); res != nil {
				return front.Result(m.ID, res), nil
			}
		case <-ctx.Done():
			rt.abandon("the client cancelled the request")
			return nil, ctx.Err()
		}
	}
}

// inputRequired makes the input_required result for h and the server
// requests queued with it, or returns nil if none is left to ask.
func (p *Upstream) inputRequired(rt *roundTrip, h *heldAsk, m *front.Message) json.RawMessage {
	asks := []*heldAsk{h}
	for more := true; more; {
		select {
		case h := <-rt.asks:
			asks = append(asks, h)
		default:
			more = false
		}
	}
	requests := map[string]any{}
	rt.held = map[string]*heldAsk{}
	for _, h := range asks {
		if h.ctx.Err() != nil { // the server cancelled it
			continue
		}
		rt.next++
		k := strconv.Itoa(rt.next)
		rt.held[k] = h
		req := map[string]any{"method": h.req.Method}
		if len(h.req.Params) > 0 {
			req["params"] = h.req.Params
		}
		requests[k] = req
	}
	if len(requests) == 0 {
		return nil
	}
	token, err := p.states.put(rt, m.Method, callName(m.Params))
	if err != nil {
		p.log.Warn("refused the MCP server's request for input", "err", err)
		rt.deliver(nil)
		return nil
	}
	b, _ := json.Marshal(map[string]any{"resultType": "input_required", "inputRequests": requests, "requestState": token})
	return b
}

// deliver answers the held server requests with the client's responses;
// one with no response gets an error.
func (rt *roundTrip) deliver(responses map[string]json.RawMessage) {
	for k, h := range rt.held {
		if raw, ok := responses[k]; ok && len(raw) > 0 {
			h.answer <- front.Result(h.req.ID, raw)
		} else {
			h.answer <- front.Fail(h.req.ID, mcp.CodeInternalError, "the client gave no answer to this request")
		}
	}
	rt.held = nil
}

// callName is the name a request is about: a tool's or prompt's name, a
// resource's URI.
func callName(params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	_ = json.Unmarshal(params, &p)
	if p.Name != "" {
		return p.Name
	}
	return p.URI
}

// roundTrips are the round trips in flight. Safe for concurrent use.
type roundTrips struct {
	mu  sync.Mutex
	set map[*roundTrip]bool
}

func (r *roundTrips) add(rt *roundTrip) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[*roundTrip]bool{}
	}
	r.set[rt] = true
}

func (r *roundTrips) remove(rt *roundTrip) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.set, rt)
}

// only returns the round trip in flight if there is exactly one.
func (r *roundTrips) only() *roundTrip {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.set) != 1 {
		return nil
	}
	for rt := range r.set {
		return rt
	}
	return nil
}

type tripKey struct{}

// withTrip marks ctx as the server call held for rt: the server's requests
// on its stream belong to rt.
func withTrip(ctx context.Context, rt *roundTrip) context.Context {
	return context.WithValue(ctx, tripKey{}, rt)
}

// tripFrom returns the round trip ctx's call belongs to, or nil.
func tripFrom(ctx context.Context) *roundTrip {
	rt, _ := ctx.Value(tripKey{}).(*roundTrip)
	return rt
}
