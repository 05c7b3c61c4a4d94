#!/usr/bin/env python3
"""names.py LINK_MAP CALLGRIND_OUT...: the functions the runs executed in the
binary the map belongs to, mangled, first file first, each name once: the
lines of a src/layout/*.order file.

The binary is stripped, so callgrind knows its code only by address: every
executed instruction (`--dump-instr=yes`) is looked up in the link map (lld's
-Map), which says which function's section holds it. Going by instruction
rather than by callgrind's guess at function starts also catches functions
entered by a jump (tail calls), which callgrind files under their caller."""
import bisect, re, sys

# Input sections `.text.<symbol>` (`.text.unlikely.<symbol>` for cold
# functions) with their start and size, from the map.
starts, ends, names = [], [], []
section = re.compile(
    r'^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+\S*:'
    r'\(\.text\.(?:(?:unlikely|hot|startup|exit|split)\.)?(\S+)\)$')
for line in open(sys.argv[1]):
    m = section.match(line)
    if m and int(m.group(2), 16) > 0:
        start = int(m.group(1), 16)
        starts.append(start); ends.append(start + int(m.group(2), 16)); names.append(m.group(3))
order = sorted(range(len(starts)), key=starts.__getitem__)
starts = [starts[i] for i in order]; ends = [ends[i] for i in order]; names = [names[i] for i in order]

seen = set()
for path in sys.argv[2:]:
    ours = False
    for line in open(path):
        if line.startswith('ob='):
            ours = line[3:].strip().endswith('/loopcast')
        elif ours and line.startswith('0x'):
            addr = int(line.split(None, 1)[0], 16)
            i = bisect.bisect_right(starts, addr) - 1
            if i < 0 or addr >= ends[i] or names[i] in seen:
                continue
            seen.add(names[i])
            print(names[i])
