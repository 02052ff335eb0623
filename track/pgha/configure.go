package pgha

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// ConfigureRestart sets PostgreSQL parameters that take a restart (such as
// archive_mode) for the whole cluster, as an operator does: through
// Patroni's dynamic configuration (PATCH /config, what patronictl
// edit-config does), then a restart of each node once its Patroni lists
// the restart as pending (what patronictl restart does), the standby
// first. It returns when the first node is the primary again and the
// second its synchronous standby.
func (c *Cluster) ConfigureRestart(params map[string]string) error {
	body, err := json.Marshal(map[string]any{"postgresql": map[string]any{"parameters": params}})
	if err != nil {
		return err
	}
	if err := c.api(http.MethodPatch, 0, "/config", body); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		n := c.Nodes[i]
		for !c.pendingRestart(n) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pgha: %s lists no pending restart a minute after the configuration changed", n.Name)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := c.api(http.MethodPost, i, "/restart", []byte("{}")); err != nil {
			return err
		}
	}
	c.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/primary", c.Nodes[0].APIPort), c.Nodes[0].Name+" to lead", c.Nodes[0].log)
	c.waitHTTP(fmt.Sprintf("http://127.0.0.1:%d/sync", c.Nodes[1].APIPort), c.Nodes[1].Name+" to be the synchronous standby", c.Nodes[1].log)
	return nil
}

// api sends a request to node i's Patroni REST API and wants 200 OK.
func (c *Cluster) api(method string, i int, path string, body []byte) error {
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", c.Nodes[i].APIPort, path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	// A restart answers once PostgreSQL has stopped and started again.
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("pgha: %s %s on %s: %w", method, path, c.Nodes[i].Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("pgha: %s %s on %s: %s: %s", method, path, c.Nodes[i].Name, resp.Status, b.String())
	}
	return nil
}

// pendingRestart says whether node n's Patroni lists a restart as pending
// (GET /patroni).
func (c *Cluster) pendingRestart(n *Node) bool {
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/patroni", n.APIPort))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var s struct {
		PendingRestart bool `json:"pending_restart"`
	}
	return json.NewDecoder(resp.Body).Decode(&s) == nil && s.PendingRestart
}

// SocketDir is node i's Unix socket directory.
func (c *Cluster) SocketDir(i int) string { return filepath.Dir(c.Nodes[i].DataDir) }
