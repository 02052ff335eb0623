package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"

	"fleetmon/cmd/fleetsim/sim"
)

// fleetFlags are the flags that choose the simulated vehicles; csv, demo and load share them so
// that the terminals of demo and load are the vehicles the CSV put into the server.
type fleetFlags struct {
	seed      uint64
	phoneBase uint64
	units     unitsFlag
}

func (f *fleetFlags) register(fs *flag.FlagSet, phoneBase uint64) {
	fs.Uint64Var(&f.seed, "seed", 1, "seed for plates, categories and routes (same seed, same fleet)")
	fs.Uint64Var(&f.phoneBase, "phone-base", phoneBase, "vehicle i (from 1) gets terminal phone `BASE`+i")
	fs.Var(&f.units, "unit", "owning unit `PATH` like 湖北省/黄石市/阳新县/县机关事务中心; repeat (or separate with commas) to spread the\nvehicles over several (default: three units under 湖北省/黄石市)")
}

func (f *fleetFlags) fleet(count int) ([]sim.Vehicle, error) {
	return sim.NewFleet(sim.FleetConfig{Count: count, Seed: f.seed, PhoneBase: f.phoneBase, Units: f.units})
}

func runCSV(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("csv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: fleetsim csv --count N [--seed S] [--phone-base B] [--unit PATH]...

Prints the simulated vehicles as UTF-8 CSV with the header
plate,plate_color,terminal_phone,unit,category, for "fleetd vehicles import FILE.csv".
The demo and load commands use the same vehicles given the same --seed and --phone-base:

  fleetsim csv --count 20 > demo.csv                                   # demo: phones 13800000001...
  fleetsim csv --count 10000 --phone-base 13900000000 > load.csv       # load: phones 13900000001...

Flags:
`)
		fs.PrintDefaults()
	}
	count := fs.Int("count", 20, "number of vehicles")
	var ff fleetFlags
	ff.register(fs, sim.DefaultPhoneBase)
	if err := parse(fs, args); err != nil {
		return err
	}
	vs, err := ff.fleet(*count)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	if err := sim.WriteCSV(w, vs); err != nil {
		return err
	}
	return w.Flush()
}
