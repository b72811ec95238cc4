package main

import "debug/elf"

// linking says how the relay binary was linked: with cgo (the Go default
// wherever a C compiler is found), an ELF executable is dynamically linked,
// and every start pays the dynamic loader, libc's initialisation and cgo's
// thread start-up. "" when it cannot tell (not ELF).
func linking(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return linkedDynamic
		}
	}
	return "statically linked (CGO_ENABLED=0)"
}

const linkedDynamic = "dynamically linked (built with cgo)"
