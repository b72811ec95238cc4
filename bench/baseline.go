package main

import "slices"

// inTurn is xs in the order of round i: as given in even rounds, reversed
// in odd ones. With the current and a baseline relay, neither always goes
// first, so what runs just before (another process's exit, a block of
// direct calls) hits both alike. With one element it is xs.
func inTurn[T any](i int, xs []T) []T {
	if i%2 == 0 || len(xs) < 2 {
		return xs
	}
	out := slices.Clone(xs)
	slices.Reverse(out)
	return out
}
