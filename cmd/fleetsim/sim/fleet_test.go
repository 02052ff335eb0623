package sim

import (
	"bytes"
	"encoding/csv"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFleetCSV(t *testing.T) {
	vs, err := NewFleet(FleetConfig{Count: 10000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, vs); err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(buf.Bytes()) || bytes.HasPrefix(buf.Bytes(), []byte("\xef\xbb\xbf")) {
		t.Fatal("not UTF-8 without BOM")
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], []string{"plate", "plate_color", "terminal_phone", "unit", "category"}) {
		t.Fatalf("header %q", recs[0])
	}
	if len(recs) != 10001 {
		t.Fatalf("%d rows", len(recs))
	}
	plateRE := regexp.MustCompile(`^鄂B[A-HJ-NP-Z][0-9]{4}$`)
	phoneRE := regexp.MustCompile(`^1[0-9]{10}$`)
	plates, phones := map[string]bool{}, map[string]bool{}
	units := map[string]int{}
	cats := map[string]int{}
	for i, r := range recs[1:] {
		plate, color, phone, unit, cat := r[0], r[1], r[2], r[3], r[4]
		if !plateRE.MatchString(plate) || plates[plate] {
			t.Fatalf("row %d: plate %q bad or repeated", i, plate)
		}
		if !phoneRE.MatchString(phone) || phones[phone] {
			t.Fatalf("row %d: phone %q bad or repeated", i, phone)
		}
		plates[plate], phones[phone] = true, true
		if color != "1" && color != "2" {
			t.Fatalf("row %d: plate colour %q", i, color)
		}
		if (cat == "special") != (color == "2") {
			t.Fatalf("row %d: category %s with colour %s", i, cat, color)
		}
		if !slices.Contains(Categories(), cat) {
			t.Fatalf("row %d: category %q", i, cat)
		}
		if !strings.HasPrefix(unit, "湖北省/黄石市/") {
			t.Fatalf("row %d: unit %q", i, unit)
		}
		units[unit]++
		cats[cat]++
	}
	if recs[1][2] != "13800000001" || recs[10000][2] != "13800010000" {
		t.Errorf("phones %s..%s, want 13800000001..13800010000", recs[1][2], recs[10000][2])
	}
	if len(units) != 3 {
		t.Errorf("units %v, want three", units)
	}
	if len(cats) != len(Categories()) || cats["general"] < 5000 {
		t.Errorf("categories %v", cats)
	}
}

func TestFleetDeterministic(t *testing.T) {
	a, _ := NewFleet(FleetConfig{Count: 50, Seed: 9, PhoneBase: 13900000000})
	b, _ := NewFleet(FleetConfig{Count: 50, Seed: 9, PhoneBase: 13900000000})
	c, _ := NewFleet(FleetConfig{Count: 50, Seed: 10, PhoneBase: 13900000000, Units: []string{"湖北省/黄石市/阳新县/县机关事务中心"}})
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different fleets")
	}
	if a[0].Phone != "13900000001" || c[49].Phone != "13900000050" {
		t.Fatalf("phones %s %s", a[0].Phone, c[49].Phone)
	}
	if a[0].Plate == c[0].Plate && a[1].Plate == c[1].Plate {
		t.Fatal("different seeds, same plates")
	}
	for _, v := range c {
		if v.Unit != "湖北省/黄石市/阳新县/县机关事务中心" || v.UnitIndex != 0 {
			t.Fatalf("unit %q", v.Unit)
		}
	}
	if _, err := NewFleet(FleetConfig{Count: 10, PhoneBase: 999999999995}); err == nil {
		t.Fatal("phone overflow accepted")
	}
}

func TestFleetsDoNotShare(t *testing.T) {
	// The demo's and the load test's vehicles go into one server: no plate may be in both.
	demo, _ := NewFleet(FleetConfig{Count: 100, Seed: 1})
	load, _ := NewFleet(FleetConfig{Count: 10000, Seed: 1, PhoneBase: 13900000000})
	plates := map[string]string{}
	for _, v := range demo {
		plates[v.Plate] = v.Phone
	}
	for _, v := range load {
		if p, ok := plates[v.Plate]; ok {
			t.Fatalf("plate %s is %s in the demo and %s in the load test", v.Plate, p, v.Phone)
		}
	}
}

func TestPlatePermIsBijective(t *testing.T) {
	p := newPlatePerm(3)
	seen := make([]bool, plateSpace)
	for x := range uint64(plateSpace) {
		y := p.apply(x)
		if y >= uint64(plateSpace) || seen[y] {
			t.Fatalf("%d -> %d repeated or out of range", x, y)
		}
		seen[y] = true
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.Quantile(tc.q)
		if math.Abs(float64(got-tc.want))/float64(tc.want) > 0.02 {
			t.Errorf("q%.2f = %v, want %v ± 2%%", tc.q, got, tc.want)
		}
	}
	if h.Max() != time.Second || h.Count() != 1000 || h.Quantile(1) > time.Second {
		t.Errorf("max %v count %d q1 %v", h.Max(), h.Count(), h.Quantile(1))
	}
	for us := uint64(0); us < 1<<22; us = us*9/8 + 1 {
		b := histBucket(us)
		if mid := histMid(b); math.Abs(mid-float64(us)) > float64(us)/60+0.5 {
			t.Fatalf("%d µs in bucket %d with middle %v", us, b, mid)
		}
	}
	if Median([]int64{5, 1, 3}) != 3 || Median([]int64{4, 1, 3, 2}) != 2.5 || Median(nil) != 0 {
		t.Error("Median")
	}
}
