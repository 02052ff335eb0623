package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fleetmon/track"
)

// The seal key signs each day's seals (track/seal.go). It lives in a file
// outside the data directory: whoever can read the data directory can
// rewrite the database, and a key kept beside it would let them re-sign
// what they rewrote. The operator keeps its public half, and the day
// digests, offline.

// loadSealKey reads --seal-key, refusing a key inside --data-dir.
func (f dbFlags) loadSealKey() (ed25519.PrivateKey, error) {
	if f.sealKey == "" {
		return nil, nil
	}
	if inside(f.sealKey, f.dataDir) {
		return nil, usageError{fmt.Sprintf("--seal-key %s is inside --data-dir %s: keep the key where whoever can rewrite the database cannot read it", f.sealKey, f.dataDir)}
	}
	key, err := track.LoadSealKey(f.sealKey)
	if err != nil {
		return nil, err
	}
	return key, nil
}

// inside reports whether path is dir or below it, symbolic links resolved
// where they exist.
func inside(path, dir string) bool {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return r
		}
		return a
	}
	rel, err := filepath.Rel(abs(dir), abs(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// cmdSealKey is fleetd seal-key create PATH (a new key; its public half in
// PATH.pub) and fleetd seal-key show PATH (the public key in hex).
func cmdSealKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || (args[0] != "create" && args[0] != "show") {
		return usageError{"seal-key takes create PATH or show PATH"}
	}
	var pub ed25519.PublicKey
	switch args[0] {
	case "create":
		var err error
		if pub, err = track.CreateSealKey(args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote the seal key %s (mode 0600) and its public half %s.pub\n", args[1], args[1])
		fmt.Fprintln(stdout, "give it to fleetd serve with --seal-key (or FLEETMON_SEAL_KEY), outside --data-dir;")
		fmt.Fprintln(stdout, "keep the public key below offline (printed, or on a medium the database's administrators cannot reach):")
	case "show":
		key, err := track.LoadSealKey(args[1])
		if err != nil {
			return err
		}
		pub = key.Public().(ed25519.PublicKey)
	}
	fmt.Fprintf(stdout, "public key %s\n", hex.EncodeToString(pub))
	return nil
}

// readExpected reads day digests kept offline: every line whose first two
// fields are a day (YYYY-MM-DD) and a 64-hex-digit digest, such as the
// lines fleetd verify --seals prints; other lines are ignored.
func readExpected(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if _, err := time.Parse(time.DateOnly, f[0]); err != nil {
			continue
		}
		if d, err := hex.DecodeString(f[1]); err == nil && len(d) == 32 {
			out[f[0]] = d
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no lines of the form YYYY-MM-DD DIGEST", path)
	}
	return out, nil
}
