package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// findBridgePID finds the bridge process started by this process with configPath (bridgetest
// does not expose the PID).
func findBridgePID(configPath string) (int, error) {
	entries, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	for _, e := range entries {
		raw, err := os.ReadFile(e)
		if err != nil || !bytes.Contains(raw, []byte(configPath)) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(e, "/")[2])
		if ppid, _ := procStatusKB(pid, "PPid"); ppid == int64(self) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process runs with config %s", configPath)
}

// procStatusKB returns a numeric field of /proc/PID/status (VmRSS and VmHWM are in kB).
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("process %d: no %s in /proc/%d/status", pid, field, pid)
}

// cpuTicks is the user+system CPU time of a process in clock ticks (/proc/PID/stat fields 14, 15).
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after the closing parenthesis are fixed.
	i := bytes.LastIndexByte(raw, ')')
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("process %d: short /proc stat line", pid)
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	s, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + s, nil
}
