package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
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
	pubFlag := fs.String("seal-pubkey", envOr("FLEETMON_SEAL_PUBKEY", ""),
		"the seal public key kept offline, as hex or a file (.pub, or the key itself): every seal must be signed by it (env FLEETMON_SEAL_PUBKEY; --seal-key gives its public half too)")
	expectFile := fs.String("expect", "", "for --seals: a file of day digests kept offline (lines YYYY-MM-DD DIGEST, as verify --seals prints them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var pub ed25519.PublicKey
	switch {
	case *pubFlag != "":
		var err error
		if pub, err = track.ParseSealPublicKey(*pubFlag); err != nil {
			return usageError{"--seal-pubkey: " + err.Error()}
		}
	case c.db.sealKey != "":
		var err error
		if pub, err = track.ParseSealPublicKey(c.db.sealKey); err != nil {
			return usageError{"--seal-key: " + err.Error()}
		}
	}
	var expected map[string][]byte
	if *expectFile != "" {
		var err error
		if expected, err = readExpected(*expectFile); err != nil {
			return usageError{"--expect: " + err.Error()}
		}
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
		if api.IsLeadsExport(file) {
			return verifyLeads(ctx, c, file, fs.Arg(0), stdout)
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
	st.SetSealPublicKey(pub)
	if pub == nil {
		fmt.Fprintln(stdout, "NOTE: no --seal-pubkey: signatures are checked against the keys the database records, which whoever rewrote it could have replaced; give the public key kept offline")
	}
	if *seals {
		day := func(s, flag string) (time.Time, error) {
			t, err := time.ParseInLocation(time.DateOnly, s, track.Beijing)
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
		problems, err := st.VerifySealsWith(ctx, f, t, track.SealCheck{PublicKey: pub, Expected: expected})
		if err != nil {
			return err
		}
		days, err := st.SealDayRecords(ctx, f, t)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "# day digests: keep these lines offline, and give them back with --expect FILE")
		for _, d := range days {
			signer := "unsigned"
			if d.Signature != nil {
				signer = "signed-by " + hex.EncodeToString(d.PublicKey)
			}
			fmt.Fprintf(stdout, "%s %x %s\n", d.Day, d.Digest, signer)
		}
		if printSealProblems(stdout, problems) == 0 {
			fmt.Fprintf(stdout, "OK: every sealed day from %s to %s matches its seal and the chains hold\n", *from, *to)
			return nil
		}
		return errTampered{fmt.Sprintf("%d problems with the sealed days", countAltered(problems))}
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
	printFileNotes(stdout, ck)
	printSealProblems(stdout, ck.SealProblems)
	tipAltered := printTipCase(stdout, ck.Tip)
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
	cst := track.Beijing
	diffs := append(ck.Differences, ck.FileAltered...)
	for _, d := range diffs {
		fmt.Fprintf(stdout, "ALTERED: vehicle %d, position at %s (fix %d): %s\n", d.VehicleID,
			d.DeviceTime.In(cst).Format("2006-01-02 15:04:05 MST"), d.FixHash, d.What)
		for _, f := range ck.FieldsOf(d) {
			fmt.Fprintf(stdout, "  %s: stored %s, file %s\n", f.Field, f.Stored, f.File)
		}
	}
	if len(diffs) == 0 && countAltered(ck.SealProblems) == 0 && tipAltered > 0 {
		return errTampered{fmt.Sprintf("%d problems with tip case #%d", tipAltered, ck.Tip.TipID)}
	}
	if n := countAltered(ck.SealProblems); n > 0 {
		return errTampered{fmt.Sprintf("%d positions differ from the export, %d seals differ from those it recorded", len(diffs), n)}
	}
	return errTampered{fmt.Sprintf("%d positions differ from the export", len(diffs))}
}

// printFileNotes says how the file was read, which of its checks could not
// be made, and which rows of its period were stored after it: none of
// these is a difference, and none goes unsaid.
func printFileNotes(w io.Writer, ck *api.ExportCheck) {
	if ck.Format != "" {
		fmt.Fprintf(w, "file: %s, %s line ends\n", ck.Encoding, ck.LineEnding)
	}
	if !ck.FileChecked {
		fmt.Fprintln(w, "NOTE: the file's lines were not checked:", ck.FileUnchecked)
	}
	if !ck.CutoffRecorded {
		fmt.Fprintln(w, "NOTE: the export's manifest records no cut-off (made before fleetmon recorded one): every position stored in its period since counts as added")
		return
	}
	if m := ck.Manifest; m.Cutoff.ReceivedThrough != nil {
		fmt.Fprintf(w, "the export holds positions received up to %s\n", m.Cutoff.ReceivedThrough.In(track.Beijing).Format("2006-01-02 15:04:05 MST"))
	}
	for _, d := range ck.ReceivedAfter {
		fmt.Fprintf(w, "RECEIVED AFTER THE EXPORT (not in it, no difference): position at %s (fix %d)\n",
			d.DeviceTime.In(track.Beijing).Format("2006-01-02 15:04:05 MST"), d.FixHash)
	}
}

// printSealProblems prints each seal problem, ALTERED or WARNING, and
// returns how many are not warnings.
func printSealProblems(w io.Writer, problems []track.SealProblem) int {
	for _, p := range problems {
		if p.Warning {
			fmt.Fprintln(w, "WARNING:", p)
		} else {
			fmt.Fprintln(w, "ALTERED:", p)
		}
	}
	return countAltered(problems)
}

func countAltered(problems []track.SealProblem) int {
	n := 0
	for _, p := range problems {
		if !p.Warning {
			n++
		}
	}
	return n
}

// printTipCase says whether the tip case an export carries (if any)
// matches the record, and returns the number of problems.
func printTipCase(w io.Writer, c *api.TipCaseCheck) int {
	if c == nil {
		return 0
	}
	for _, p := range c.Problems {
		fmt.Fprintln(w, "ALTERED:", p)
	}
	if len(c.Problems) == 0 {
		fmt.Fprintf(w, "tip case #%d: the case and its %d steps match the record\n", c.TipID, c.Steps)
	}
	return len(c.Problems)
}
