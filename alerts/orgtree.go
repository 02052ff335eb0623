package alerts

import "slices"

// The organisation tree: what a unit inherits from above (calendar,
// parameters, fences) comes from the nearest unit up its chain that sets
// one.

// OrgTree is the organisation tree (province → city → county → unit).
type OrgTree interface {
	// Parent returns the unit's parent, and false at the top.
	Parent(unit int64) (int64, bool)
}

// Parents is an OrgTree as a map from unit to parent.
type Parents map[int64]int64

// Parent implements OrgTree.
func (p Parents) Parent(unit int64) (int64, bool) {
	v, ok := p[unit]
	return v, ok
}

// maxTreeDepth bounds a walk up the tree, so that a cycle in stored data
// cannot loop forever; real trees have 4–6 levels.
const maxTreeDepth = 32

// Chain returns unit and its ancestors, nearest first. A nil tree gives
// the unit alone.
func Chain(tree OrgTree, unit int64) []int64 {
	out := []int64{unit}
	if tree == nil {
		return out
	}
	for range maxTreeDepth {
		p, ok := tree.Parent(unit)
		if !ok || slices.Contains(out, p) {
			break
		}
		out = append(out, p)
		unit = p
	}
	return out
}

// inherited returns own's entry for the nearest unit on unit's chain that
// has one, else def.
func inherited[T any](tree OrgTree, unit int64, own map[int64]T, def T) T {
	for _, u := range Chain(tree, unit) {
		if c, ok := own[u]; ok {
			return c
		}
	}
	return def
}
