#!/usr/bin/python3
"""memscan.py PID HEXBYTES...: for each needle, print 1 if it is anywhere in
the readable memory of process PID (/proc/PID/maps, /proc/PID/mem), else 0.
Needs root (or ptrace rights over PID)."""
import sys

pid = sys.argv[1]
needles = [bytes.fromhex(h) for h in sys.argv[2:]]
found = [0] * len(needles)
HUGE = 1 << 30
CHUNK = 16 << 20
overlap = max((len(n) for n in needles), default=1) - 1
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        f = line.split()
        if "r" not in f[1] or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]")):
            continue
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        # ASan's shadow and allocator reservations are terabytes of
        # never-touched pages: no heap of ours is that large.
        if hi - lo > HUGE:
            continue
        # In chunks that overlap by a needle's length.
        at, tail = lo, b""
        while at < hi:
            try:
                mem.seek(at)
                data = tail + mem.read(min(CHUNK, hi - at))
            except (OSError, OverflowError, ValueError):
                break
            for i, n in enumerate(needles):
                if not found[i] and n in data:
                    found[i] = 1
            tail = data[-overlap:] if overlap else b""
            at += CHUNK
print(" ".join(str(x) for x in found))
