package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/passbridge/passbridge/config"
	"github.com/passbridge/passbridge/scim"
)

// Garbage collector defaults (BENCHMARKS.md, "GC settings"): the live heap
// is a few MB, so GOGC=100 collects dozens of times a second under load;
// 400 cuts that several-fold for some MB more heap, and the soft limit
// keeps a container's memory bounded whatever GOGC says.
const (
	defaultGOGC          = 400
	defaultMemoryLimitMB = 384
)

// applyRuntime sets GOGC and the soft memory limit: runtime.gogc and
// runtime.memoryLimitMB when set, else the GOGC and GOMEMLIMIT variables
// (which the Go runtime already applied), else passbridge's defaults.
func applyRuntime(c config.Runtime, env []string, log *slog.Logger) {
	has := func(name string) bool {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, name+"="); ok && v != "" {
				return true
			}
		}
		return false
	}
	gogc, gogcFrom := c.GOGC, "runtime.gogc"
	switch {
	case gogc != 0:
	case has("GOGC"):
		gogc, gogcFrom = debug.SetGCPercent(-1), "GOGC"
	default:
		gogc, gogcFrom = defaultGOGC, "default"
	}
	debug.SetGCPercent(gogc)
	limit, limitFrom := c.MemoryLimitMB<<20, "runtime.memoryLimitMB"
	switch {
	case limit != 0:
	case has("GOMEMLIMIT"):
		limit, limitFrom = debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	default:
		limit, limitFrom = defaultMemoryLimitMB<<20, "default"
	}
	debug.SetMemoryLimit(limit)
	limitMB := "none"
	if limit != math.MaxInt64 {
		limitMB = slog.Int64Value(limit >> 20).String()
	}
	log.Info("garbage collector", "gogc", gogc, "gogcFrom", gogcFrom, "memoryLimitMB", limitMB, "memoryLimitFrom", limitFrom)
}

// accessLog maps server.accessLog and server.accessLogSample onto the SCIM
// server's option.
func accessLog(s config.Server) scim.AccessLog {
	a := scim.AccessLog{Level: slog.LevelDebug, Every: 1}
	switch s.AccessLog {
	case "off":
		a.Off = true
	case "info":
		a.Level = slog.LevelInfo
	}
	if s.AccessLogSample > 0 && s.AccessLogSample < 1 {
		a.Every = uint64(math.Round(1 / s.AccessLogSample))
	}
	return a
}
