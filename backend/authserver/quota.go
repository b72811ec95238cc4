package authserver

import "container/list"

// quota keeps, for each key (a client id, a source address), the ids of
// the key's entries in arrival order, so that a key over its bound gives
// way oldest first: a flood then evicts the flooder's own entries, not
// anyone else's. The store's mutex guards it.
type quota struct {
	max  int
	keys map[string]*list.List // of ids (string), oldest at the front
}

func newQuota(max int) *quota { return &quota{max: max, keys: map[string]*list.List{}} }

// push appends id under key. It returns id's element, for remove, and the
// key's oldest id if the key is now over its bound ("" otherwise), which
// the caller must drop (removing it).
func (q *quota) push(key, id string) (el *list.Element, over string) {
	l := q.keys[key]
	if l == nil {
		l = list.New()
		q.keys[key] = l
	}
	el = l.PushBack(id)
	if l.Len() > q.max {
		over = l.Front().Value.(string)
	}
	return el, over
}

// remove takes el, pushed under key, out of the key's list.
func (q *quota) remove(key string, el *list.Element) {
	l := q.keys[key]
	if l == nil || el == nil {
		return
	}
	l.Remove(el) // a no-op for an element of another list
	if l.Len() == 0 {
		delete(q.keys, key)
	}
}

// ids returns a copy of key's ids, oldest first.
func (q *quota) ids(key string) []string {
	var out []string
	if l := q.keys[key]; l != nil {
		for el := l.Front(); el != nil; el = el.Next() {
			out = append(out, el.Value.(string))
		}
	}
	return out
}
