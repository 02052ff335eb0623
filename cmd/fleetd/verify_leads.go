package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"fleetmon/api"
	"fleetmon/track"
)

// verifyLeads checks a fuel-card leads export (its manifest line, every
// lead's facts in the file and in the database) and exits 1 when they no
// longer agree.
func verifyLeads(ctx context.Context, c *adminCmd, file []byte, name string, stdout io.Writer) error {
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer db.close()
	ck, err := api.VerifyLeadsExport(ctx, db.pool, file)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m := ck.Manifest
	cst := track.Beijing
	fmt.Fprintf(stdout, "fuel-card leads export, %s to %s, %d leads; exported %s by %s, reason: %s\nfile: %s\n",
		m.From.In(cst).Format(time.DateOnly), m.To.In(cst).Format(time.DateOnly), len(m.Rows),
		m.ExportedAt.Format(time.RFC3339), m.ExportedBy, m.Reason, ck.Encoding)
	for _, id := range ck.Moved {
		fmt.Fprintf(stdout, "WORKED ON SINCE (no difference): lead %d: its verification, plate or unit changed after the export\n", id)
	}
	for _, id := range ck.Added {
		fmt.Fprintf(stdout, "FOUND SINCE (not in the export, no difference): lead %d\n", id)
	}
	if ck.Intact() {
		fmt.Fprintln(stdout, "OK: every lead in the export matches what is stored, and so does every line of the file")
		return nil
	}
	if !ck.ManifestConsistent {
		fmt.Fprintln(stdout, "ALTERED: the export's own manifest does not match its digest (the file was edited)")
	}
	if ck.FileRows != len(m.Rows) {
		fmt.Fprintf(stdout, "ALTERED: the file has %d lead lines, its manifest %d\n", ck.FileRows, len(m.Rows))
	}
	for _, d := range ck.Differences {
		fmt.Fprintf(stdout, "ALTERED: lead %d: %s\n", d.ID, d.What)
	}
	return errTampered{fmt.Sprintf("%d leads differ from the export", len(ck.Differences))}
}
