package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"fleetmon/track"
)

// errTampered makes fleetd verify exit 1 when the evidence no longer
// matches the database.
type errTampered struct{ what string }

func (e errTampered) Error() string { return e.what }

// cmdVerify checks an evidence export against the database, or with
// --seals the daily seals of a period.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newAdminCmd("verify", stderr)
	fs := c.fs
	seals := fs.Bool("seals", false, "verify the daily seals of --from..--to instead of a file")
	from := fs.String("from", "", "first day for --seals (YYYY-MM-DD, Beijing time)")
	to := fs.String("to", "", "last day for --seals (YYYY-MM-DD)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var m *track.Manifest
	if !*seals {
		if fs.NArg() != 1 {
			return usageError{"verify takes one export FILE, or --seals --from DAY --to DAY"}
		}
		file, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		if m, err = track.ReadManifest(file); err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(0), err)
		}
	}
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	st := track.NewStore(db.pool)
	if *seals {
		day := func(s, flag string) (time.Time, error) {
			t, err := time.ParseInLocation(time.DateOnly, s, time.FixedZone("CST", 8*3600))
			if err != nil {
				return t, usageError{fmt.Sprintf("--%s %q: want YYYY-MM-DD", flag, s)}
			}
			return t, nil
		}
		f, err := day(*from, "from")
		if err != nil {
			return err
		}
		t, err := day(*to, "to")
		if err != nil {
			return err
		}
		problems, err := st.VerifySeals(ctx, f, t)
		if err != nil {
			return err
		}
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "OK: every sealed day from %s to %s matches its seal and the chain holds\n", *from, *to)
			return nil
		}
		for _, p := range problems {
			fmt.Fprintln(stdout, "ALTERED:", p)
		}
		return errTampered{fmt.Sprintf("%d sealed days no longer match", len(problems))}
	}
	v, err := st.Verify(ctx, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "export of %s (vehicle %d), %s to %s, %d positions; exported %s by %s, reason: %s\n",
		m.Plate, m.VehicleID, m.From.Format(time.RFC3339), m.To.Format(time.RFC3339), m.Rows,
		m.ExportedAt.Format(time.RFC3339), m.ExportedBy, m.Reason)
	if v.Intact {
		fmt.Fprintln(stdout, "OK: every position in the export matches what is stored")
		return nil
	}
	if !v.ManifestConsistent {
		fmt.Fprintln(stdout, "ALTERED: the export's own manifest does not match its digest (the file was edited)")
	}
	cst := time.FixedZone("CST", 8*3600)
	for _, d := range v.Differences {
		fmt.Fprintf(stdout, "ALTERED: vehicle %d, position at %s (fix %d): %s\n", d.VehicleID,
			d.DeviceTime.In(cst).Format("2006-01-02 15:04:05 MST"), d.FixHash, d.What)
	}
	return errTampered{fmt.Sprintf("%d positions differ from the export", len(v.Differences))}
}
