package authserver

import "net/http"

// Room for dynamic registrations (issue 14, F2). A registration costs
// nothing to make, so one that no sign-in has used yet gives way to a new
// one when room is needed: past maxUnusedPerAddr unused registrations from
// one source address, that address's oldest; past maxRegistered in all, the
// oldest unused one. A client that gives way takes its pending requests
// and device grants with it. Only when all maxRegistered registrations
// have been used to sign in (which takes a user's password each) is a new
// one refused.
//
// Unused registrations do not expire by age: a relay keeps its
// registration and, with no tokens yet, goes straight to /authorize, where
// an unknown client gets an error page (A1) that the relay cannot see. A
// registration is dropped only when a newer one needs its room.
const maxUnusedPerAddr = 10

// dynClient is the bookkeeping of a client registered through /register.
type dynClient struct {
	id   string
	addr string // sourceKey of the registration request
	used bool   // a sign-in with it completed (a refresh token family)
}

var errTooManyClients = &oauthError{Code: "temporarily_unavailable", Description: "too many registered clients", status: http.StatusTooManyRequests}

// addClient stores a client registered from addr, making room as above.
func (s *Server) addClient(c Client, addr string) *oauthError {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if u := st.unused(addr); len(u) >= maxUnusedPerAddr {
		s.dropClient(u[0])
	}
	if len(st.dynamic) >= maxRegistered {
		u := st.unused("")
		if len(u) == 0 {
			return errTooManyClients
		}
		s.dropClient(u[0])
	}
	st.dynamic = append(st.dynamic, &dynClient{id: c.ID, addr: addr})
	st.clients[c.ID] = c
	return nil
}

// unused returns the registrations no sign-in has used, oldest first:
// those from addr, or all for "". Callers hold mu.
func (st *store) unused(addr string) []*dynClient {
	var out []*dynClient
	for _, d := range st.dynamic {
		if !d.used && (addr == "" || d.addr == addr) {
			out = append(out, d)
		}
	}
	return out
}

// dropClient forgets a registered client and its pending entries. Callers
// hold mu.
func (s *Server) dropClient(d *dynClient) {
	st := s.store
	for i, x := range st.dynamic {
		if x == d {
			st.dynamic = append(st.dynamic[:i], st.dynamic[i+1:]...)
			break
		}
	}
	delete(st.clients, d.id)
	st.dropPendingOf(d.id)
	s.log.Info("authserver: unused registration dropped for a newer one", "client_id", d.id)
}

// markUsed records that a sign-in with clientID completed. Callers hold
// mu.
func (st *store) markUsed(clientID string) {
	for _, d := range st.dynamic {
		if d.id == clientID {
			d.used = true
			return
		}
	}
}
