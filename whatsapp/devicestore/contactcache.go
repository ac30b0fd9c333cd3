package devicestore

import (
	"sync"

	"go.mau.fi/whatsmeow/types"
)

// contactCache is an in-memory copy of whatsmeow_contacts rows read by this process. Every
// message from a contact makes whatsmeow store its push name (PutPushName reads the row to tell
// a change) and the connector read the contact for the ghost's name: two queries per message on
// the way to Matrix, for rows that change rarely. Writers bump a generation and drop what they
// touch; a read that started before a write does not store its (possibly old) row.
type contactCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[contactKey]types.ContactInfo
}

type contactKey struct{ our, their string }

// maxCachedContacts bounds the copy; past it, it starts again empty.
const maxCachedContacts = 100_000

// get returns the cached row (Found false for a contact known to have none) and the
// generation to give to put.
func (c *contactCache) get(k contactKey) (info types.ContactInfo, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok = c.m[k]
	return info, ok, c.gen
}

// put stores a row read at generation gen, unless a write happened since.
func (c *contactCache) put(k contactKey, info types.ContactInfo, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= maxCachedContacts {
		c.m = make(map[contactKey]types.ContactInfo)
	}
	c.m[k] = info
}

// forget drops the rows of the given contacts of device our (all of its contacts when none are
// given); call it after writing them.
func (c *contactCache) forget(our string, their ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(their) == 0 {
		for k := range c.m {
			if k.our == our {
				delete(c.m, k)
			}
		}
		return
	}
	for _, t := range their {
		delete(c.m, contactKey{our, t})
	}
}
