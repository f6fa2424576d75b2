package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a process from /proc.
type ProcSample struct {
	CPUSeconds float64 // time on a CPU, every thread (see procCPU)
	Syscr      int64   // read syscalls (read, readv, recv...)
	Syscw      int64   // write syscalls (write, writev, send...)
	RSSBytes   int64   // VmRSS
	Threads    int64
}

// SampleProc reads /proc/<pid>/stat, io and status.
func SampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	cpu, err := procCPU(pid)
	if err != nil {
		return s, err
	}
	s.CPUSeconds = cpu
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return s, err
	}
	kv := keyValues(io, ':')
	s.Syscr, s.Syscw = kv["syscr"], kv["syscw"]
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	kv = keyValues(st, ':')
	s.RSSBytes = kv["VmRSS"] << 10 // kB
	s.Threads = kv["Threads"]
	return s, nil
}

// procCPU returns the CPU time pid has used, in seconds, from the process's
// CPU-time clock (clock_gettime on the clock id Linux derives from a pid:
// every thread, exited ones included, to the nanosecond, and current for
// threads on a CPU right now). utime and stime in /proc/<pid>/stat count
// 10 ms ticks, too coarse for a window of a second or two on a busy machine,
// where a short window could read as zero CPU; they are the fallback.
func procCPU(pid int) (float64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(processCPUClock(pid), &ts); err == nil {
		return float64(ts.Nano()) / 1e9, nil
	}
	return procStatCPU(pid)
}

// processCPUClock is the kernel's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED).
func processCPUClock(pid int) int32 {
	const cpuclockSched = 2
	return int32(^pid)<<3 | cpuclockSched
}

// procStatCPU returns utime+stime of pid in seconds, from /proc/<pid>/stat.
func procStatCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields count
	// from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ... utime is field 14, stime 15 (1-based, whole line).
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// keyValues parses "Key: 123 kB" lines into the first number of each.
func keyValues(b []byte, sep byte) map[string]int64 {
	m := make(map[string]int64)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), string(sep))
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[strings.TrimSpace(k)] = n
		}
	}
	return m
}

// MachineCPU is the machine-wide CPU time from /proc/stat, in ticks.
type MachineCPU struct{ Busy, Total int64 }

// SampleMachineCPU reads the aggregate cpu line of /proc/stat.
func SampleMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var m MachineCPU
	for i, s := range f[1:] {
		n, _ := strconv.ParseInt(s, 10, 64)
		m.Total += n
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += n
		}
	}
	return m, nil
}

// Util is the busy fraction of every core between two samples.
func (m MachineCPU) Util(later MachineCPU) float64 {
	if later.Total == m.Total {
		return 0
	}
	return float64(later.Busy-m.Busy) / float64(later.Total-m.Total)
}

// SockPages is the machine-wide TCP buffer memory from /proc/net/sockstat,
// in pages.
func SockPages() int64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "mem" {
				n, _ := strconv.ParseInt(f[i+1], 10, 64)
				return n
			}
		}
	}
	return 0
}

// ThisMachine describes the machine for every row.
func ThisMachine() Machine {
	m := Machine{GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
