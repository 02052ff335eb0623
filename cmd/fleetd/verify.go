package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"fleetmon/api"
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
	var file []byte
	if !*seals {
		if fs.NArg() != 1 {
			return usageError{"verify takes one export FILE, or --seals --from DAY --to DAY"}
		}
		var err error
		if file, err = os.ReadFile(fs.Arg(0)); err != nil {
			return err
		}
		if _, err = track.ReadManifest(file); err != nil {
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
	ck, err := api.VerifyExport(ctx, st, file, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	m := ck.Manifest
	format := ck.Format
	if format == "" {
		format = "unrecognised"
	}
	fmt.Fprintf(stdout, "%s export of %s (vehicle %d), %s to %s, %d positions; exported %s by %s, reason: %s\n",
		format, m.Plate, m.VehicleID, m.From.Format(time.RFC3339), m.To.Format(time.RFC3339), m.Rows,
		m.ExportedAt.Format(time.RFC3339), m.ExportedBy, m.Reason)
	if ck.Intact() {
		if ck.FileChecked {
			fmt.Fprintln(stdout, "OK: every position in the export matches what is stored, and so does every line of the file")
		} else {
			fmt.Fprintln(stdout, "OK: every position in the export's manifest matches what is stored")
		}
		return nil
	}
	if !ck.ManifestConsistent {
		fmt.Fprintln(stdout, "ALTERED: the export's own manifest does not match its digest (the file was edited)")
	}
	if ck.FileChecked && ck.FileRows != m.Rows {
		fmt.Fprintf(stdout, "ALTERED: the file has %d position lines, its manifest %d\n", ck.FileRows, m.Rows)
	}
	cst := time.FixedZone("CST", 8*3600)
	diffs := append(ck.Differences, ck.FileAltered...)
	for _, d := range diffs {
		fmt.Fprintf(stdout, "ALTERED: vehicle %d, position at %s (fix %d): %s\n", d.VehicleID,
			d.DeviceTime.In(cst).Format("2006-01-02 15:04:05 MST"), d.FixHash, d.What)
	}
	return errTampered{fmt.Sprintf("%d positions differ from the export", len(diffs))}
}
