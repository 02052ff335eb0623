package pgha

import (
	"fmt"
	"net/http"
	"strings"
)

// Maintenance turns Patroni's maintenance mode (patronictl pause) on or
// off: Patroni then leaves PostgreSQL alone, so that a test may, for
// instance, pause a standby's WAL replay (pg_wal_replay_pause), which
// Patroni otherwise resumes at its next cycle, to make the standby lag.
// No failover happens while it is on.
func (c *Cluster) Maintenance(on bool) error {
	i := c.Primary()
	if i < 0 {
		return fmt.Errorf("pgha: no primary to set maintenance mode through")
	}
	req, err := http.NewRequest(http.MethodPatch, fmt.Sprintf("http://127.0.0.1:%d/config", c.Nodes[i].APIPort),
		strings.NewReader(fmt.Sprintf(`{"pause": %t}`, on)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("pgha: maintenance mode %t: %w", on, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pgha: maintenance mode %t: %s", on, resp.Status)
	}
	return nil
}
