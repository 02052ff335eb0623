// Command fleetsim simulates the JT/T 808 terminals of official vehicles.
//
//	fleetsim csv  --count N [--seed S] [--phone-base B] [--unit PATH]...   vehicles for `fleetd vehicles import`
//	fleetsim setup --url URL --count N [--seed S] [--phone-base B]   (FLEETSIM_TOKEN: an administrator's token)
//	fleetsim demo --addr HOST:PORT --count N [--v2019-share F] [--interval D] [--seed S] [--phone-base B]
//	fleetsim load --addr HOST:PORT --terminals N --rate R --duration D [--batch N] [--gap-share F] [--json] ...
//	fleetsim watch --url URL --token T [--clients N] [--duration D] [--json]
//	fleetsim logins --url URL [--logins N] [--sources N] [--pid PID]
//
// The terminals of demo and load are the vehicles of csv with the same --count, --seed and
// --phone-base: import the CSV into the server first, e.g.
//
//	fleetsim csv --count 10000 --phone-base 13900000000 > load.csv && fleetd vehicles import load.csv
//	fleetsim load --addr 127.0.0.1:6808 --terminals 10000 --phone-base 13900000000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: fleetsim <command> [flags]

commands:
  csv    print the simulated vehicles as CSV for "fleetd vehicles import FILE.csv"
  setup  give a server what the demo's misuse needs (calendars, fences, a seal) through its API
  demo   drive simulated vehicles around 黄石市 against a server, until interrupted
  load   load-test a server and report acknowledgements, throughput and latency
  watch  connect websocket clients to the live stream and report its latency
  logins send a storm of logins with random names; report /healthz latency and fleetd's memory

"fleetsim <command> -h" lists a command's flags. demo and load use the vehicles that csv prints
for the same --seed and --phone-base; import them first.
`

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "csv":
		err = runCSV(args[1:], stdout, stderr)
	case "setup":
		err = runSetup(ctx, args[1:], stdout, stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stderr)
	case "load":
		err = runLoad(ctx, args[1:], stdout, stderr)
	case "watch":
		err = runWatch(ctx, args[1:], stdout, stderr)
	case "logins":
		err = runLogins(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fleetsim: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default: // errUnacked (the load test failed) among others
		fmt.Fprintln(stderr, "fleetsim:", err)
		return 1
	}
}

// errUsage marks a flag error that the flag package already printed.
var errUsage = errors.New("usage")

// parse parses a command's flags, turning flag errors into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "fleetsim %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// unitsFlag collects repeated --unit flags (a comma also separates units).
type unitsFlag []string

func (u *unitsFlag) String() string { return strings.Join(*u, ",") }

func (u *unitsFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*u = append(*u, part)
		}
	}
	return nil
}
