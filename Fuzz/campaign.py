#!/usr/bin/env python3
"""Runs fuzz targets until each has used a given amount of CPU time, and keeps the account.

    python3 Fuzz/campaign.py --cpu-seconds 3600 FuzzTLS FuzzDNS ...

libFuzzer's -max_total_time counts wall-clock time, which on a shared machine says little about how
much fuzzing happened; this runs a target (niced, from its working corpus and seeds) and stops it with
SIGINT once the process has used the budget in CPU time (user + system, from /proc). libFuzzer prints
its final stats on SIGINT; the executions, the CPU seconds, what was found and the commit fuzzed are
appended to Fuzz/ledger.tsv, which is committed, so the CPU-hours of every target add up across
sessions (`--report` sums them). A crash, timeout or OOM ends the target's run early, with the
artifact in Fuzz/artifacts/<Target>/: minimize it, fix the bug, keep it in Tests/Regressions/<Target>/.
libFuzzer's -timeout is wall-clock time, so a timeout is first re-run alone: one that does not take
over a second again is set aside in Fuzz/artifacts/not-reproduced/ and the target fuzzes on.
"""
import argparse
import datetime
import os
import re
import signal
import subprocess
import sys
import time

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
LEDGER = os.path.join(FUZZ, "ledger.tsv")
HEADER = "date\ttarget\tcpu_seconds\texecutions\tpeak_rss_mb\tresult\tcommit\n"
OPTIONS = ["-rss_limit_mb=2048", "-timeout=1", "-max_len=65536", "-print_final_stats=1"]


def cpu_seconds(pid):
    """User + system CPU time of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit():
    out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "Sources", "Fuzz/Sources"]).returncode
    return out.stdout.strip() + ("+changes" if dirty else "")


STOP = False


def stop(signum, frame):
    """SIGTERM/SIGINT: end the running target as if its budget were spent, so its time is recorded."""
    global STOP
    STOP = True


def reproduces(binary, artifact):
    """Whether a timeout artifact still takes over a second alone: libFuzzer's -timeout is wall-clock
    time, so on a busy machine a slow moment looks like a hang. Returns the verdict and the time taken."""
    start = time.time()
    r = subprocess.run([binary, "-timeout=1", "-runs=1", artifact], capture_output=True,
                       env=dict(os.environ, SWIFT_BACKTRACE="enable=no"))
    return r.returncode != 0, time.time() - start


def run(target, budget, nice):
    """Fuzzes `target` until it has used `budget` CPU seconds or found something that reproduces."""
    total_cpu, total_execs, notes = 0.0, 0, []
    while total_cpu < budget - 5 and not STOP:
        cpu, execs, rss, result, artifact = run_once(target, budget - total_cpu, nice)
        total_cpu += cpu
        total_execs += execs
        if result.startswith("found: ALARM") and artifact:
            real, seconds = reproduces(os.path.join(FUZZ, ".build", "release", target), artifact)
            if not real:
                notes.append(f"a timeout that did not reproduce alone ({seconds:.2f} s), set aside")
                os.makedirs(os.path.join(FUZZ, "artifacts", "not-reproduced"), exist_ok=True)
                os.replace(artifact, os.path.join(FUZZ, "artifacts", "not-reproduced", os.path.basename(artifact)))
                continue
        if result != "clean":
            notes.append(result)
            break
    result = "clean" if not notes else "; ".join(notes)
    if notes and all(n.startswith("a timeout that did not reproduce") for n in notes):
        result = "clean (" + result + ")"
    row = [datetime.date.today().isoformat(), target, f"{total_cpu:.0f}", str(total_execs), str(rss),
           result[:200], commit()]
    new = not os.path.exists(LEDGER)
    with open(LEDGER, "a") as f:
        if new:
            f.write(HEADER)
        f.write("\t".join(row) + "\n")
    print("\t".join(row), flush=True)
    return result.startswith("clean")


def run_once(target, budget, nice):
    binary = os.path.join(FUZZ, ".build", "release", target)
    if not os.access(binary, os.X_OK):
        sys.exit(f"campaign: {binary} is missing; run `make fuzz-build` first")
    corpus = os.path.join(FUZZ, "corpus", target)
    artifacts = os.path.join(FUZZ, "artifacts", target)
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    os.makedirs(os.path.join(FUZZ, "logs"), exist_ok=True)
    log_path = os.path.join(FUZZ, "logs", f"{target}.log")
    seeds = [os.path.join(FUZZ, "seeds", target)] if os.path.isdir(os.path.join(FUZZ, "seeds", target)) else []
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["nice", "-n", str(nice), binary, *OPTIONS, f"-artifact_prefix={artifacts}/",
                                 corpus, *seeds], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        used = 0.0
        while proc.poll() is None:
            time.sleep(2)
            try:
                used = cpu_seconds(proc.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            if used >= budget or STOP:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                break
        proc.wait()
    text = open(log_path, errors="replace").read()
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    rss = re.findall(r"stat::peak_rss_mb:\s*(\d+)", text)
    found = re.search(r"==\d+==ERROR: (\S+): ([^\n]*)|(ALARM: working on the last Unit for \d+ seconds)"
                      r"|(out-of-memory \([^)]*\))|(deadly signal)", text)
    result = "clean" if not found else ("found: " + " ".join(g for g in found.groups() if g))[:120]
    written = re.findall(r"Test unit written to (\S+)", text)
    return used, int(execs[-1]) if execs else 0, rss[-1] if rss else "?", result, written[-1] if written else None


def report():
    totals = {}
    for line in open(LEDGER).read().splitlines()[1:]:
        cols = line.split("\t")
        t = totals.setdefault(cols[1], [0.0, 0, 0])
        t[0] += float(cols[2])
        t[1] += int(cols[3]) if cols[3].isdigit() else 0
        t[2] += 0 if cols[5].startswith("clean") else 1
    print(f"{'target':16} {'CPU-hours':>9} {'executions':>12} {'findings':>8}")
    for name in sorted(totals):
        cpu, execs, found = totals[name]
        print(f"{name:16} {cpu / 3600:9.2f} {execs:12,} {found:8}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="*")
    p.add_argument("--cpu-seconds", type=float, default=3600, help="CPU time per target (default 3600)")
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--report", action="store_true", help="print the CPU-hours per target from the ledger")
    args = p.parse_args()
    if args.report:
        return report()
    # With autogroup scheduling each session shares the CPU equally whatever its processes' nice
    # values, so a campaign started with setsid would take a full core from a build: nice the group,
    # but only a session of its own (started with setsid), never the shell's that started it.
    if os.getsid(0) == os.getpid():
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(args.nice))
        except OSError:
            pass
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ok = True
    for t in args.targets:
        if STOP:
            break
        ok = run(t, args.cpu_seconds, args.nice) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
