package node

import (
	"sync"

	"github.com/kmsharness/kmsharness/softhsm/users"
)

// caller is who a request runs as: the session's login when it arrived.
type caller struct {
	loggedIn bool
	name     string
	role     users.Role
}

// session is the login state of one connection.
type session struct {
	mu sync.Mutex
	c  caller
}

func (s *session) current() caller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *session) set(c caller) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

// endSession logs the connection's user out when the connection ends.
func (n *Node) endSession(s *session) {
	c := s.current()
	if !c.loggedIn {
		return
	}
	n.mu.Lock()
	n.releaseLoginLocked(c.name)
	n.mu.Unlock()
	s.set(caller{})
}

func (n *Node) releaseLoginLocked(name string) {
	if n.sessions[name] <= 1 {
		delete(n.sessions, name)
	} else {
		n.sessions[name]--
	}
}
