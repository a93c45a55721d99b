package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNoBrowser means no Chromium is installed (scripts/install-deps.sh
// --test installs Debian's).
var ErrNoBrowser = errors.New("no chromium on PATH: run scripts/install-deps.sh --test")

// RenderHTML opens an HTML file in a real headless Chromium, lets its
// scripts run, and returns the document as the browser then holds it (the
// DOM, serialised), so that a test sees what a person would see rather
// than the file's source. The browser's profile lives in a temporary
// directory removed afterwards.
func RenderHTML(ctx context.Context, path string) (string, error) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		return "", ErrNoBrowser
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	profile, err := os.MkdirTemp("", "kmsharness-chromium-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-breakpad",
		"--user-data-dir="+profile, "--virtual-time-budget=5000", "--dump-dom", "file://"+abs)
	// Chromium writes crash-report and cache folders under the home
	// directory whatever the profile: keep them in the temporary one.
	cmd.Env = append(os.Environ(), "HOME="+profile, "XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("chromium: %w: %s", err, stderr.String())
	}
	return string(out), nil
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
