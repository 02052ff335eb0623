package track

// NearM exposes nearM to the tests.
var NearM = nearM
