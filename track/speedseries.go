package track

// SpeedExtrema returns the indexes, in time order, of at most 2×buckets+2
// of pts (in time order) that keep the speed curve's peaks and troughs:
// the time axis is cut into buckets equal spans and each keeps its
// slowest and fastest report, plus the first and last reports. A speed
// chart drawn from them shows every maximum as it was reported, which a
// track simplified for the map (Simplify keeps the shape of the route, and
// a peak on a straight road is not part of it) does not.
func SpeedExtrema(pts []TrackPoint, buckets int) []int {
	n := len(pts)
	if n <= 2*buckets+2 || buckets <= 0 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	t0, t1 := pts[0].Time.UnixMilli(), pts[n-1].Time.UnixMilli()
	span := max(t1-t0+1, 1)
	idx := make([]int, 0, 2*buckets+2)
	idx = append(idx, 0)
	for i := 1; i < n-1; {
		b := (pts[i].Time.UnixMilli() - t0) * int64(buckets) / span
		lo, hi := i, i
		j := i + 1
		for ; j < n-1 && (pts[j].Time.UnixMilli()-t0)*int64(buckets)/span == b; j++ {
			if pts[j].SpeedKmh < pts[lo].SpeedKmh {
				lo = j
			}
			if pts[j].SpeedKmh > pts[hi].SpeedKmh {
				hi = j
			}
		}
		switch {
		case lo == hi:
			idx = append(idx, lo)
		case lo < hi:
			idx = append(idx, lo, hi)
		default:
			idx = append(idx, hi, lo)
		}
		i = j
	}
	return append(idx, n-1)
}
