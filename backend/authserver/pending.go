package authserver

import "container/list"

// Bounds on pending entries (issue 14, F2). A pending authorization request
// or device grant costs nothing to create, so each client and each source
// address holds at most a few, and a new one past a bound evicts the
// oldest of its client or address: a flood costs the flooder its own
// pending sign-ins and never blocks anyone else's new one. A client that
// gives way (registrations.go) takes its pending entries with it. With at
// most maxRegistered dynamic clients, the server-wide maxPending is out of
// reach unless many clients are pre-registered; it stays as the last bound
// on memory.
const (
	maxPendingPerAddr   = 16
	maxPendingPerClient = 64
)

// slots is where a pending entry sits in its quotas.
type slots struct {
	addr             string // sourceKey of the request that made it
	byClient, byAddr *list.Element
}

// pendingQuotas are the quotas of one kind of pending entry.
type pendingQuotas struct{ byClient, byAddr *quota }

func newPendingQuotas() pendingQuotas {
	return pendingQuotas{byClient: newQuota(maxPendingPerClient), byAddr: newQuota(maxPendingPerAddr)}
}

// add puts id, made for client from addr, in both quotas. It returns its
// slots and the ids that must give way ("" for none).
func (p pendingQuotas) add(client, addr, id string) (slots, [2]string) {
	s := slots{addr: addr}
	var over [2]string
	s.byClient, over[0] = p.byClient.push(client, id)
	s.byAddr, over[1] = p.byAddr.push(addr, id)
	return s, over
}

func (p pendingQuotas) remove(client string, s slots) {
	p.byClient.remove(client, s.byClient)
	p.byAddr.remove(s.addr, s.byAddr)
}

// addRequest stores a pending request made from addr, evicting what gives
// way. It reports false when the server-wide bound is reached. Callers
// hold mu.
func (st *store) addRequest(req *authRequest, addr string) bool {
	if len(st.requests) >= maxPending {
		return false
	}
	st.requests[req.id] = req
	var over [2]string
	req.slots, over = st.pendingRequests.add(req.clientID, addr, req.id)
	for _, id := range over {
		st.dropRequest(id)
	}
	return true
}

// dropRequest forgets a pending request. Callers hold mu.
func (st *store) dropRequest(id string) {
	if req := st.requests[id]; req != nil {
		delete(st.requests, id)
		st.pendingRequests.remove(req.clientID, req.slots)
	}
}

// addDevice stores a device grant requested from addr, evicting what gives
// way. It reports false when the server-wide bound is reached. Callers hold
// mu.
func (st *store) addDevice(d *deviceGrant, addr string) bool {
	if len(st.devices) >= maxPending {
		return false
	}
	st.devices[d.hash] = d
	st.userCodes[d.userCode] = d
	var over [2]string
	d.slots, over = st.pendingDevices.add(d.clientID, addr, d.hash)
	for _, h := range over {
		if old := st.devices[h]; old != nil {
			st.dropDevice(old)
		}
	}
	return true
}

// dropDevice forgets a device grant. Callers hold mu.
func (st *store) dropDevice(d *deviceGrant) {
	if st.devices[d.hash] != d {
		return
	}
	delete(st.devices, d.hash)
	delete(st.userCodes, d.userCode)
	st.pendingDevices.remove(d.clientID, d.slots)
}

// dropPendingOf forgets every pending request and device grant of a
// client. Callers hold mu.
func (st *store) dropPendingOf(clientID string) {
	for _, id := range st.pendingRequests.byClient.ids(clientID) {
		st.dropRequest(id)
	}
	for _, h := range st.pendingDevices.byClient.ids(clientID) {
		if d := st.devices[h]; d != nil {
			st.dropDevice(d)
		}
	}
}
