package sim

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// Vehicle is one simulated official vehicle as the server knows it.
type Vehicle struct {
	// Index is the vehicle's position in the fleet, from 0.
	Index int
	// Plate is the number plate, e.g. 鄂BA0001 (鄂B is 黄石市).
	Plate string
	// PlateColor is the JT/T 808 plate colour code (JT/T 415): 1 blue, 2 yellow.
	PlateColor uint8
	// Phone is the terminal's phone number (its identity in JT/T 808), 11 digits.
	Phone string
	// Unit is the owning unit's path, province/city[/county]/unit.
	Unit string
	// UnitIndex is the index of Unit in FleetConfig.Units; Driver uses it as the depot.
	UnitIndex int
	// Category is one of Categories().
	Category string
}

// Categories returns the official-vehicle categories the fleet is drawn from, in the server's
// spelling: 一般公务用车, 机要通信用车, 应急保障用车, 执法执勤用车, 特种专业技术用车.
func Categories() []string {
	return []string{"general", "confidential", "emergency", "enforcement", "special"}
}

// categoryWeights are percentages matching Categories: most official cars are general ones.
var categoryWeights = [...]int{60, 5, 10, 15, 10}

// DefaultUnits returns the units the fleet is spread over when none are given: the city's
// offices administration and two county-level ones under 黄石市, so that jurisdiction demos
// (city sees all, county sees its own) work.
func DefaultUnits() []string {
	return []string{
		"湖北省/黄石市/市机关事务管理局",
		"湖北省/黄石市/阳新县/县机关事务中心",
		"湖北省/黄石市/大冶市/市机关事务服务中心",
	}
}

// DefaultPhoneBase is the default FleetConfig.PhoneBase: the first vehicle is 13800000001.
const DefaultPhoneBase = 13800000000

// maxPhone is the largest phone that fits the 2013 header (BCD[6], 12 digits).
const maxPhone = 999999999999

// FleetConfig says which vehicles NewFleet makes.
type FleetConfig struct {
	// Count is the number of vehicles.
	Count int
	// Seed chooses plates and categories; the same seed gives the same fleet.
	Seed uint64
	// PhoneBase: vehicle i (from 0) has phone PhoneBase+i+1. Default DefaultPhoneBase.
	PhoneBase uint64
	// Units the vehicles are spread over, round robin; default DefaultUnits().
	Units []string
}

// plateLetters are the letters used after 鄂B: I and O are not issued (they look like 1 and 0).
const plateLetters = "ABCDEFGHJKLMNPQRSTUVWXYZ"

// plateSpace is the number of plates 鄂B + letter + 4 digits: 24 × 10^4 = 2^6 · 3 · 5^4.
const plateSpace = len(plateLetters) * 10000

// platePerm is a seeded bijection of [0, plateSpace): a four-round Feistel network on 18 bits
// (2^18 = 262144 ≥ plateSpace) with cycle walking back into the range, so that consecutive
// phones get unrelated-looking plates.
type platePerm struct{ keys [4]uint64 }

func newPlatePerm(seed uint64) platePerm {
	rng := rand.New(rand.NewPCG(seed, 0x706c617465))
	var p platePerm
	for i := range p.keys {
		p.keys[i] = rng.Uint64()
	}
	return p
}

func (p platePerm) apply(x uint64) uint64 {
	const half, mask = 9, 1<<9 - 1
	for {
		l, r := x>>half, x&mask
		for _, k := range p.keys {
			z := (r ^ k) * 0x9e3779b97f4a7c15 // splitmix64's finaliser as the round function
			z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
			z ^= z >> 31
			l, r = r, l^(z&mask)
		}
		x = l<<half | r
		if x < uint64(plateSpace) {
			return x
		}
	}
}

// plateOf returns the plate of the vehicle with the given phone. It is a function of the phone
// (and the seed), so the plates of fleets with different phone bases (the demo's and the load
// test's) never clash unless their phones are a multiple of plateSpace apart, and vehicles of one
// fleet (fewer than plateSpace consecutive phones) never share a plate.
func plateOf(phone uint64, p platePerm) string {
	x := p.apply(phone % uint64(plateSpace))
	return fmt.Sprintf("鄂B%c%04d", plateLetters[x/10000], x%10000)
}

// NewFleet returns cfg.Count vehicles. Phones follow PhoneBase in order; plates are unique,
// scrambled by the seed, and a function of the phone (see plateOf); vehicles of the special
// category have yellow plates, the others blue.
func NewFleet(cfg FleetConfig) ([]Vehicle, error) {
	if cfg.Count < 0 {
		return nil, fmt.Errorf("sim: fleet count %d is negative", cfg.Count)
	}
	if cfg.PhoneBase == 0 {
		cfg.PhoneBase = DefaultPhoneBase
	}
	if cfg.PhoneBase+uint64(cfg.Count) > maxPhone {
		return nil, fmt.Errorf("sim: phone base %d + %d vehicles exceeds 12 digits", cfg.PhoneBase, cfg.Count)
	}
	if cfg.Count > plateSpace {
		return nil, fmt.Errorf("sim: fleet of %d vehicles is too large for 鄂B plates (at most %d)", cfg.Count, plateSpace)
	}
	if len(cfg.Units) == 0 {
		cfg.Units = DefaultUnits()
	}
	cats := Categories()
	total := 0
	for _, w := range categoryWeights {
		total += w
	}
	// The second PCG word separates the fleet from the drivers of the same seed.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x666c656574))
	perm := newPlatePerm(cfg.Seed)
	vs := make([]Vehicle, cfg.Count)
	for i := range vs {
		phone := cfg.PhoneBase + uint64(i) + 1
		plate := plateOf(phone, perm)
		cat := cats[len(cats)-1]
		for j, r := 0, rng.IntN(total); j < len(categoryWeights); j++ {
			if r < categoryWeights[j] {
				cat = cats[j]
				break
			}
			r -= categoryWeights[j]
		}
		color := uint8(1)
		if cat == "special" {
			color = 2
		}
		vs[i] = Vehicle{
			Index:      i,
			Plate:      plate,
			PlateColor: color,
			Phone:      strconv.FormatUint(phone, 10),
			Unit:       cfg.Units[i%len(cfg.Units)],
			UnitIndex:  i % len(cfg.Units),
			Category:   cat,
		}
	}
	return vs, nil
}

// CSVHeader is the header line WriteCSV writes, the columns `fleetd vehicles import` reads.
func CSVHeader() []string {
	return []string{"plate", "plate_color", "terminal_phone", "unit", "category"}
}

// WriteCSV writes vs as UTF-8 CSV (no byte-order mark) with CSVHeader.
func WriteCSV(w io.Writer, vs []Vehicle) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader()); err != nil {
		return fmt.Errorf("sim: write csv header: %w", err)
	}
	rec := make([]string, 5)
	for _, v := range vs {
		rec[0] = v.Plate
		rec[1] = strconv.Itoa(int(v.PlateColor))
		rec[2] = v.Phone
		rec[3] = v.Unit
		rec[4] = v.Category
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("sim: write csv row %d: %w", v.Index, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("sim: write csv: %w", err)
	}
	return nil
}
