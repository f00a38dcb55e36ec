"""Barrier matrices in parallel: the targets, measured.

    python -m benchmarks.sweep            # 8 nets of 2-64-64-3, 28 pairs (~1.5 min)
    python -m benchmarks.sweep --quick    # 4 nets, a small refinement budget (a smoke run)

Eight 2-64-64-3 ReLU nets trained with the examples' recipe
(``toy.trained_net``, build seeds 1000.., train seeds 2000..), compared on
the examples' 36 probes with the default alignment (auto + refinement).
The same sweep is timed three ways, in turn (serial, 2 jobs, cluster,
serial, ...), ``--repeat`` rounds, and the best of each is kept, so a busy
machine hurts all three alike. The first joblib run starts its worker
processes (joblib keeps them for the later runs); every run ships the nets.

* serial, ``n_jobs=1``;
* ``n_jobs=2`` (joblib processes): speed-up = serial time / this time,
  target >= 1.7x on two cores;
* a Dask ``LocalCluster`` of 2 worker processes, 1 thread each (started
  before the clock): overhead per pair = (cluster time - serial time / 2)
  / pairs, i.e. what the cluster costs per pair beyond a perfect split of
  the serial work over its two workers.

On a shared machine the wall times swing with the other processes (the
load average is printed with each run), so the run also gives the CPU-time
view: the CPU seconds of the busiest process of each run (this one, or a
worker process: psutil sums children's user + system time), i.e. the
wall time each run would take with one idle core per process. Serial CPU /
busiest CPU is the speed-up without the contention.

The three matrices must be bit-identical; the run says so. A full run
writes ``benchmarks/results/sweep.json``.
"""
import argparse
import os
import sys
import time

import numpy as np

import pyneural as pn
from pyneural import toy

from .harness import machine_summary
from .results import Run, add_results_option, results_path

SPEEDUP_TARGET = 1.7


def _nets(n, hidden):
    return [toy.trained_net(1000 + s, 2000 + s, hidden=hidden) for s in range(n)]


def _cpu_seconds():
    """CPU seconds (user + system) of this process and of each child
    process (by pid): joblib's and the LocalCluster's workers."""
    import psutil
    me = psutil.Process()
    seconds = {}
    for proc in [me] + me.children(recursive=True):
        try:
            t = proc.cpu_times()
        except psutil.Error:              # gone since the listing
            continue
        seconds[proc.pid] = t.user + t.system
    return seconds


def _timed(fn):
    """``(result, wall seconds, CPU seconds of the busiest process)``."""
    cpu = _cpu_seconds()
    start = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    busiest = max(t - cpu.get(pid, 0.0) for pid, t in _cpu_seconds().items())
    return result, wall, busiest


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep",
                                     description="barrier_matrix: 1 job, 2 jobs, 2-worker "
                                                 "LocalCluster")
    parser.add_argument("--quick", action="store_true",
                        help="4 nets and a small refinement budget (a smoke run, not figures)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="rounds of the three timings; the best of each is kept (default 2)")
    add_results_option(parser)
    args = parser.parse_args(argv)
    with Run("sweep", results_path(args, "sweep", args.quick),
             argv if argv is not None else sys.argv[1:]) as run:
        return _main(args, run)


def _main(args, run):
    n_nets = 4 if args.quick else 8
    options = dict(refine_budget=200 if args.quick else 2000, progress=False)

    print(f"pyneural barrier-matrix sweep - {machine_summary()}")
    print(f"(os.cpu_count() = {os.cpu_count()}; best of {args.repeat} alternating rounds)")
    nets = _nets(n_nets, (64, 64))
    probes = toy.build_probes(generator=pn.rng.FPCRandom())
    n_pairs = n_nets * (n_nets - 1) // 2
    print(f"{n_nets} nets 2-64-64-3, {n_pairs} pairs, {len(probes)} probes, "
          f"refine_budget {options['refine_budget']}")

    from distributed import Client, LocalCluster
    results = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        runs = {"n_jobs=1 (serial)": {}, "n_jobs=2 (joblib, loky)": dict(n_jobs=2),
                "2-worker LocalCluster (Dask)": dict(scheduler=client)}
        times = {label: [] for label in runs}
        cpus = {label: [] for label in runs}
        loads = {label: [] for label in runs}
        for _ in range(args.repeat):
            for label, how in runs.items():
                results[label], seconds, cpu = _timed(
                    lambda: pn.barrier_matrix(nets, probes, **how, **options))
                times[label].append(seconds)
                cpus[label].append(cpu)
                loads[label].append(os.getloadavg()[0])
                print(f"  {label:30s} {seconds:7.2f} s wall, busiest process {cpu:6.2f} s CPU"
                      f"   (load average {loads[label][-1]:.1f})", flush=True)
    serial, two, dask = results.values()
    t1, t2, t3 = (min(t) for t in times.values())
    c1, c2, c3 = (min(c) for c in cpus.values())
    every_load = [v for values in loads.values() for v in values]
    run.figure("load_range", f"{min(every_load):.1f}-{max(every_load):.1f}", max(every_load))
    run.table("runs", ["run", "wall time (best)", "busiest process, CPU (best)"], [
        ["n_jobs=1", f"{t1:.1f} s ({1000 * t1 / n_pairs:.0f} ms per pair)", f"{c1:.1f} s"],
        ["n_jobs=2 (joblib)", f"{t2:.1f} s: {t1 / t2:.2f}x", f"{c2:.1f} s: {c1 / c2:.2f}x"],
        ["2-worker LocalCluster", f"{t3:.1f} s: {1000 * (t3 - t1 / 2) / n_pairs:.0f} ms per "
         "pair over serial / 2", f"{c3:.1f} s"]])
    run.figure("speedup", f"{t1 / t2:.2f}x", t1 / t2)
    run.figure("cpu_speedup", f"{c1 / c2:.2f}x", c1 / c2)
    run.figure("overhead_ms", f"{1000 * (t3 - t1 / 2) / n_pairs:.0f} ms", (t3 - t1 / 2) / n_pairs)
    same = all(np.array_equal(serial.pre, r.pre) and np.array_equal(serial.post, r.post)
               for r in (two, dask))
    speedup = t1 / t2
    overhead_ms = 1000 * (t3 - t1 / 2) / n_pairs
    print()
    print(f"  best: serial {t1:.2f} s, 2 jobs {t2:.2f} s, cluster {t3:.2f} s")
    print(f"  serial per pair                    {1000 * t1 / n_pairs:7.0f} ms")
    print(f"  speed-up with 2 jobs               {speedup:7.2f}x   (target >= "
          f"{SPEEDUP_TARGET}x: {'PASS' if speedup >= SPEEDUP_TARGET else 'MISS'})")
    print(f"  LocalCluster overhead per pair     {overhead_ms:7.0f} ms   "
          f"((cluster - serial / 2) / pairs)")
    print(f"  CPU view (busiest process, best): serial {c1:.2f} s, 2 jobs {c2:.2f} s, cluster "
          f"{c3:.2f} s: speed-up {c1 / c2:.2f}x with 2 jobs, cluster overhead per pair "
          f"{1000 * (c3 - c1 / 2) / n_pairs:.0f} ms")
    print(f"  matrices bit-identical (serial, 2 jobs, cluster): {'yes' if same else 'NO'}")
    print(f"  mean pre / post barrier {serial.mean_pre:.6f} / {serial.mean_post:.6f}, "
          f"most central net: {serial.names[serial.central]}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
