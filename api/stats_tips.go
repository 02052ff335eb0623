package api

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"fleetmon/track"
)

// tipStatsRow counts the tips received in a report's period about one
// unit's cars, by where they stand and how they were found.
type tipStatsRow struct {
	UnitID          int64  `json:"unit_id"`
	Unit            string `json:"unit"`
	Received        int    `json:"received"`
	Open            int    `json:"open"`
	Overdue         int    `json:"overdue"`
	Substantiated   int    `json:"substantiated"`
	Unsubstantiated int    `json:"unsubstantiated"`
	Closed          int    `json:"closed"`
}

// tipStatsSection is the statistics' tips (举报) section: a row per unit
// with tips, and their total.
type tipStatsSection struct {
	Rows  []tipStatsRow `json:"rows"`
	Total tipStatsRow   `json:"total"`
}

// tipStats counts the tips received in [from, to) about the units of sc,
// as things stand at now.
func (s *Server) tipStats(ctx context.Context, sc track.Scope, from, to, now time.Time) (*tipStatsSection, error) {
	out := &tipStatsSection{Rows: []tipStatsRow{}, Total: tipStatsRow{Unit: "合计 total"}}
	err := s.queryEach(ctx, `SELECT t.unit_id, unit_path(t.unit_id), count(*),
			count(*) FILTER (WHERE t.state <> 'closed'),
			count(*) FILTER (WHERE t.state = 'passed' AND t.deadline < $4),
			count(*) FILTER (WHERE t.outcome = 'substantiated'),
			count(*) FILTER (WHERE t.outcome = 'unsubstantiated'),
			count(*) FILTER (WHERE t.state = 'closed')
		FROM tips t
		WHERE ($1::bigint IS NULL OR t.unit_id IN (SELECT unit_subtree($1))) AND t.received_at >= $2 AND t.received_at < $3
		GROUP BY t.unit_id ORDER BY 2`, []any{sc.SQLArg(), from, to, now}, func(row pgx.CollectableRow) error {
		var r tipStatsRow
		err := row.Scan(&r.UnitID, &r.Unit, &r.Received, &r.Open, &r.Overdue, &r.Substantiated, &r.Unsubstantiated, &r.Closed)
		out.Rows = append(out.Rows, r)
		t := &out.Total
		t.Received, t.Open, t.Overdue = t.Received+r.Received, t.Open+r.Open, t.Overdue+r.Overdue
		t.Substantiated, t.Unsubstantiated, t.Closed = t.Substantiated+r.Substantiated, t.Unsubstantiated+r.Unsubstantiated, t.Closed+r.Closed
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tip statistics: %w", err)
	}
	return out, nil
}

// tipSheetRows is the tips section as the workbook's sheet: a heading, a
// row per unit, the total.
func tipSheetRows(sec *tipStatsSection) [][]any {
	rows := [][]any{{"单位", "受理", "未办结", "逾期", "属实", "不属实", "已办结"}}
	if sec == nil {
		return rows
	}
	for _, r := range append(sec.Rows, sec.Total) {
		rows = append(rows, []any{xlsxCell(r.Unit), r.Received, r.Open, r.Overdue, r.Substantiated, r.Unsubstantiated, r.Closed})
	}
	return rows
}
