#!/usr/bin/env python3
"""Writes the "## Fuzzing" section of bench/RESULTS.md (or $BENCH_RESULTS)
from the per-target lines tests/fuzz/run_all.sh collects (`make fuzz`):

  bench/fuzz_report.py LINES_FILE SECONDS COMMAND

LINES_FILE holds one tab-separated line per target, as short_run.sh writes
them: name, executions, exec/s, corpus entries, seconds, result. Never fails
on a number: a field short_run.sh could not read stays "?"."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import RESULTS, replace_section  # noqa: E402

HEADING = "## Fuzzing"


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    lines_file, seconds, command = sys.argv[1:]
    rows = []
    with open(lines_file) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 6:
                rows.append(fields)
    findings = sum(1 for r in rows if r[5] != "clean")
    L = [HEADING, ""]
    L.append("Written by `make fuzz` on %s: each of the %d libFuzzer targets ran %s s (built with "
             "clang++, ASan and UBSan, on the committed seed corpus plus the working corpus of "
             "earlier runs); %s." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), len(rows),
                                     seconds, "no findings" if findings == 0
                                     else "%d target(s) with a finding" % findings))
    L.append("")
    L.append("| target | executions | exec/s | corpus entries | result |")
    L.append("| --- | ---: | ---: | ---: | --- |")
    for name, execs, rate, corpus, _secs, result in rows:
        L.append("| %s | %s | %s | %s | %s |" % (name, execs, rate, corpus,
                                               result if result == "clean" else "`%s`" % result))
    L.append("")
    L.append("Command: `%s`. A finding's input is saved at the path shown: run the target's "
             "binary on it to reproduce, and add it to tests/fuzz/corpus/<target>/ so that "
             "`make test` replays it." % command)
    replace_section(RESULTS, HEADING, "\n".join(L))
    print("wrote %s section %s" % (os.path.relpath(RESULTS), HEADING))
    return 0


if __name__ == "__main__":
    sys.exit(main())
