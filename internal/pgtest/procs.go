package pgtest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PostgreSQL's children (backends, checkpointer, WAL writer…) each call setsid() when they
// start, so they are not in the postmaster's process group and a signal to that group reaches
// the postmaster alone. A backend outlives its postmaster until it notices the death, and in
// that moment it still answers a query on its open connection (seen in CI: a store read "with
// the database down" returned a row). So Kill freezes the postmaster, finds its children by
// their parent in /proc and kills each of them with it.

// procState returns the state letter of process pid ('R', 'S', 'T', 'Z'…) and its parent, or
// ok false when the process does not exist.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid …"; comm may hold spaces and parentheses, so read after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], ppid, true
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procState(child); ok && ppid == pid {
			kids = append(kids, child)
		}
	}
	return kids
}

// killTree kills the postmaster pid and every child it has: the postmaster is stopped first
// (SIGSTOP) so it forks no new backend while its children are listed. It waits until the
// postmaster is stopped, for at most a second; a postmaster that does not stop in that time is
// killed anyway.
func killTree(pid int) []int {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for i := 0; i < 100; i++ {
		if state, _, ok := procState(pid); !ok || state == 'T' || state == 'Z' {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	kids := childrenOf(pid)
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // its own group: it, and a child caught mid-fork
	return kids
}

// gone reports whether process pid has ended: it no longer exists or is a zombie nobody has
// reaped yet (a zombie holds no memory, sockets or files).
func gone(pid int) bool {
	state, _, ok := procState(pid)
	return !ok || state == 'Z' || state == 'X'
}
