package authserver

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// bcryptCost is the cost for new hashes. Tests lower it to bcrypt.MinCost;
// nothing else may change it.
var bcryptCost = bcrypt.DefaultCost

// User is an account that can log in. Only a bcrypt hash of the password is
// kept.
type User struct {
	Name string
	hash []byte
}

// NewUser hashes password with bcrypt. Names are 1 to 64 printable
// characters without spaces, ':' or ','. Passwords are 1 to 72 bytes (the
// bcrypt limit). Errors never contain the password.
func NewUser(name, password string) (User, error) {
	if !validUserName(name) {
		return User{}, fmt.Errorf("%w: name must be 1-64 printable characters without space, ':' or ','", ErrUserSpec)
	}
	if password == "" || len(password) > 72 {
		return User{}, fmt.Errorf("%w: user %q: password must be 1-72 bytes", ErrUserSpec, name)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("%w: user %q: hash failed", ErrUserSpec, name)
	}
	return User{Name: name, hash: h}, nil
}

// ParseUsers parses "name:password,name2:password2" (AUTH_USERS, and each
// --user flag). A password may contain ':' but not ','. Errors name the
// entry by position only, never its content.
func ParseUsers(spec string) ([]User, error) {
	if spec == "" {
		return nil, fmt.Errorf("%w: empty", ErrUserSpec)
	}
	var users []User
	seen := map[string]bool{}
	for i, entry := range strings.Split(spec, ",") {
		name, pw, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("%w: entry %d: want name:password", ErrUserSpec, i+1)
		}
		u, err := NewUser(name, pw)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: bad name or password", ErrUserSpec, i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: entry %d: duplicate user", ErrUserSpec, i+1)
		}
		seen[name] = true
		users = append(users, u)
	}
	return users, nil
}

func validUserName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == ':' || r == ',' {
			return false
		}
	}
	return true
}

// dummyHash is checked for unknown users so that a login takes as long
// whether or not the user exists.
func dummyHash() ([]byte, error) {
	pw := make([]byte, 24)
	_, _ = rand.Read(pw)
	return bcrypt.GenerateFromPassword(pw, bcryptCost)
}

// checkPassword returns the user name on success. It always runs one bcrypt
// comparison.
func (s *Server) checkPassword(name, password string) (string, bool) {
	u, known := s.users[name]
	if len(password) > 72 {
		known, password = false, ""
	}
	h := s.dummy
	if known {
		h = u.hash
	}
	err := bcrypt.CompareHashAndPassword(h, []byte(password))
	if err != nil || !known {
		if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			s.log.Warn("authserver: password check error")
		}
		return "", false
	}
	return u.Name, true
}
