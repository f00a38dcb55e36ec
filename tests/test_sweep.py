"""Barrier matrices: every entry is the pairwise report's, and
the matrix is the same bit for bit serially, in joblib processes and on a
real Dask LocalCluster, also when a worker is killed mid-sweep."""
import concurrent.futures
import json
import os
import signal
import sys

import numpy as np
import pytest

import pyneural as pn
from pyneural import cli, toy
from pyneural.reports import sweep
from conftest import csv_text, need

N_NETS = 5
OPTIONS = dict(k=4, refine_budget=150)
SWEEP_TIMEOUT = 120          # seconds; a hung cluster fails the test instead of blocking CI


@pytest.fixture(scope="module")
def nets():
    return [toy.trained_net(300 + s, 400 + s, hidden=(8, 8)) for s in range(N_NETS)]


@pytest.fixture(scope="module")
def samples():
    return toy.make_samples(np.repeat(np.arange(3), 4), pn.rng.FPCRandom())


@pytest.fixture(scope="module")
def serial(nets, samples):
    return pn.barrier_matrix(nets, samples, progress=False, **OPTIONS)


@pytest.fixture(scope="module")
def cluster():
    # A plain import: distributed is in the [test] extra, so a missing one
    # fails here instead of skipping the cluster tests.
    import distributed
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None)
    client = distributed.Client(lc)
    try:
        yield lc, client
    finally:
        client.close()
        lc.close()


def assert_same(a, b):
    assert np.array_equal(a.pre, b.pre) and np.array_equal(a.post, b.post)
    assert a.permutations.keys() == b.permutations.keys()
    for key, perms in a.permutations.items():
        assert all(np.array_equal(p, q) for p, q in zip(perms, b.permutations[key]))


def test_matrix_is_symmetric_with_a_zero_diagonal(serial):
    for m in (serial.pre, serial.post):
        assert m.shape == (N_NETS, N_NETS) and m.dtype == np.float64
        assert np.array_equal(m, m.T) and not np.any(np.diag(m))
    assert set(serial.permutations) == set(sweep.pairs(N_NETS))


def test_every_entry_is_the_pairwise_reports_barriers(nets, samples, serial):
    for i, j in sweep.pairs(N_NETS):
        r = nets[i].permutation_align_report(nets[j].save_data_to_string(), samples,
                                             seed=serial.pair_seed(i, j), check_scale=False,
                                             **OPTIONS)
        assert serial.pre[i, j] == r.pre_barrier and serial.post[j, i] == r.post_barrier
        assert all(np.array_equal(p, q) for p, q in zip(serial.permutations[(i, j)],
                                                        r.permutations))
    assert serial.mean_post < serial.mean_pre          # alignment lowers the barriers


def test_held_out_entries_and_align_false(nets, samples):
    held = toy.make_samples(np.repeat(np.arange(3), 5), pn.rng.FPCRandom(9))
    r = pn.barrier_matrix(nets[:3], samples, eval_samples=held, progress=False, **OPTIONS)
    report = nets[1].permutation_align_report(nets[2], samples, eval_samples=held,
                                              seed=r.pair_seed(1, 2), check_scale=False,
                                              **OPTIONS)
    assert r.pre[1, 2] == report.pre_barrier and r.post[1, 2] == report.post_barrier
    assert r.n_eval == 15 and "held-out eval_samples (15)" in str(r)
    plain = pn.barrier_matrix(nets[:3], samples, align=False, k=4, progress=False)
    assert plain.post is None and plain.permutations == {}
    assert plain.pre[0, 2] == nets[0].mode_connectivity_report(nets[2], samples, 4).barrier
    assert "After alignment" not in str(plain)
    assert json.loads(json.dumps(plain.to_dict(), allow_nan=False))["post"] is None


def test_repair_adds_the_repaired_matrix_of_the_pairwise_reports(nets, samples, serial):
    r = pn.barrier_matrix(nets[:3], samples, repair=True, progress=False, **OPTIONS)
    assert serial.repaired is None and np.array_equal(r.post, serial.post[:3, :3])
    assert np.array_equal(r.repaired, r.repaired.T) and not np.any(np.diag(r.repaired))
    for i, j in sweep.pairs(3):
        report = nets[i].permutation_align_report(nets[j], samples, seed=r.pair_seed(i, j),
                                                  check_scale=False, repair=True, **OPTIONS)
        assert r.repaired[i, j] == report.repaired_barrier
    assert r.mean_repaired == float(np.mean(r.repaired[np.triu_indices(3, 1)]))
    assert "REPAIR'd path (after alignment):" in str(r) and "Mean REPAIR'd barrier" in str(r)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["repaired"][0][1] == r.repaired[0, 1] and d["summary"]["mean_repaired"] is not None
    plain = pn.barrier_matrix(nets[:3], samples, align=False, repair=True, k=4, progress=False)
    assert plain.repaired[0, 2] == nets[0].mode_connectivity_report(
        nets[2], samples, 4, repair=True).repaired_barrier
    assert "REPAIR'd path:" in str(plain)


def test_progress_line_counts_the_pairs(nets, samples, capsys):
    pn.barrier_matrix(nets[:3], samples, align=False, k=4, progress=True)
    err = capsys.readouterr().err
    assert "\rpairs 1/3, " in err and "\rpairs 3/3, 0.0 s left" in err and err.endswith("\n")
    pn.barrier_matrix(nets[:3], samples, align=False, k=4, progress=False)
    assert capsys.readouterr().err == ""


def test_pairs_are_seeded_by_their_indices_not_the_number_of_nets(nets, samples, serial):
    fewer = pn.barrier_matrix(nets[:3], samples, progress=False, **OPTIONS)
    assert np.array_equal(fewer.post, serial.post[:3, :3])
    assert serial.pair_seed(0, 1) == 0 and serial.pair_seed(1, 2) == 2


def test_two_jobs_equal_serial_bit_for_bit(nets, samples, serial):
    assert_same(pn.barrier_matrix(nets, samples, n_jobs=2, progress=False, **OPTIONS), serial)


def test_missing_optional_packages_name_their_extras(nets, samples, monkeypatch):
    monkeypatch.setitem(sys.modules, "joblib", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pyneural\[parallel\]"):
        pn.barrier_matrix(nets[:2], samples, n_jobs=2, **OPTIONS)
    with pytest.raises(ImportError, match=r"pyneural\[distributed\]"):
        pn.barrier_matrix(nets[:2], samples, scheduler="tcp://localhost:8786", **OPTIONS)


def _bounded(fn):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=SWEEP_TIMEOUT)


def test_local_cluster_equals_serial_bit_for_bit(nets, samples, serial, cluster):
    lc, client = cluster
    by_address = _bounded(lambda: pn.barrier_matrix(
        nets, samples, scheduler=lc.scheduler_address, progress=False, **OPTIONS))
    assert_same(by_address, serial)
    assert_same(_bounded(lambda: pn.barrier_matrix(nets, samples, scheduler=client,
                                                   progress=False, **OPTIONS)), serial)


def test_a_worker_killed_mid_sweep_costs_a_rerun_not_the_sweep(nets, samples, serial, cluster,
                                                               monkeypatch):
    lc, client = cluster
    pids = client.run(os.getpid)
    killed = []
    step = sweep._Progress.step

    def step_and_kill(self):
        step(self)
        if self.done == 2:
            # The busiest worker: it has pairs in flight when it dies.
            busy = client.processing()
            victim = max(busy, key=lambda w: len(busy[w]))
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(self.total - self.done)

    monkeypatch.setattr(sweep._Progress, "step", step_and_kill)
    result = _bounded(lambda: pn.barrier_matrix(nets, samples, scheduler=client,
                                                progress=False, **OPTIONS))
    assert killed and killed[0] > 0                    # died with pairs still to come
    assert_same(result, serial)


def test_nets_as_files_strings_and_tnnets(nets, samples, serial, tmp_path):
    paths = []
    for n, net in enumerate(nets[:3]):
        paths.append(tmp_path / f"n{n}.nn")
        net.save_to_file(paths[-1])
    nets[3].save(tmp_path / "n3.npz")
    mixed = [str(paths[0]), nets[1].save_to_string(), nets[2], tmp_path / "n3.npz"]
    r = pn.barrier_matrix(mixed, samples, progress=False, **OPTIONS)
    assert r.names == ["n0.nn", "net 1", "net 2", "n3.npz"]
    assert np.array_equal(r.post, serial.post[:4, :4])
    data_only = pn.barrier_matrix([paths[0], nets[1].save_data_to_string(), nets[2]], samples,
                                  progress=False, **OPTIONS)
    assert np.array_equal(data_only.pre, serial.pre[:3, :3])


def test_to_dict_is_strict_json_and_str_has_the_summary(serial):
    d = json.loads(json.dumps(serial.to_dict(), allow_nan=False))
    assert d["pre"] == serial.pre.tolist() and d["post"] == serial.post.tolist()
    assert len(d["permutations"]) == N_NETS * (N_NETS - 1) // 2
    assert d["summary"]["central"] == serial.central
    text = str(serial)
    for number in (serial.mean_pre, serial.mean_post, serial.max_post,
                   serial.mean_to_others()[serial.central]):
        assert f"{number:.6f}" in text
    assert f"Most central net: net {serial.central}" in text
    assert int(np.argmin(serial.mean_to_others())) == serial.central


def test_non_finite_barriers_become_null(serial):
    broken = sweep.SweepResult(serial.names, serial.k, serial.n_samples, serial.pre.copy(),
                               serial.post.copy())
    broken.post[0, 1] = broken.post[1, 0] = np.nan
    d = json.loads(json.dumps(broken.to_dict(), allow_nan=False))
    assert d["post"][0][1] is None and d["summary"]["mean_post"] is None


def test_plot_draws_two_heatmaps_each_on_its_scale(serial, tmp_path):
    import matplotlib  # in the [test] extra: a missing one fails, never skips
    matplotlib.use("Agg")
    fig = serial.plot()
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2
    assert images[0].get_clim() == (0.0, serial.pre.max())
    assert images[1].get_clim() == (0.0, serial.post.max())
    serial.plot(tmp_path / "heat.png")
    assert (tmp_path / "heat.png").stat().st_size > 0


def test_bad_inputs(nets, samples):
    with pytest.raises(ValueError, match="at least two nets"):
        pn.barrier_matrix(nets[:1], samples)
    other = toy.trained_net(1, 2, hidden=(8, 7))
    with pytest.raises(pn.ArchitectureError, match=r"net 0 and net 2"):
        pn.barrier_matrix([nets[0], nets[1], other], samples)
    with pytest.raises(pn.ArchitectureError, match=r"net 1 does not fit net 0"):
        pn.barrier_matrix([nets[0], other.save_data_to_string()], samples)
    with pytest.raises(TypeError, match="unknown option refine_budgett"):
        pn.barrier_matrix(nets[:2], samples, refine_budgett=3)
    with pytest.raises(ValueError, match="either n_jobs"):
        pn.barrier_matrix(nets[:2], samples, n_jobs=2, scheduler="tcp://localhost:1")
    with pytest.raises(ValueError, match="unknown score_mode"):
        pn.barrier_matrix(nets[:2], samples, score_mode="nope")


def _write_nets_and_samples(tmp_path, nets, samples):
    paths = []
    for n, net in enumerate(nets):
        paths.append(str(tmp_path / f"s{n}.nn"))
        net.save_to_file(paths[-1])
    csv = tmp_path / "probes.csv"
    X, Y = samples
    csv.write_text(csv_text("x0,x1,y0,y1,y2", np.hstack([X, Y])))
    return paths, str(csv)


def test_cli_sweep_json_end_to_end(nets, samples, serial, tmp_path, capsys):
    paths, csv = _write_nets_and_samples(tmp_path, nets[:3], samples)
    code = cli.main(["sweep", *paths, "--samples", csv, "-k", "4", "--refine-budget", "150",
                     "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    d = json.loads(out)
    assert d["names"] == ["s0.nn", "s1.nn", "s2.nn"] and d["paths"] == paths
    assert d["post"] == serial.post[:3, :3].tolist()
    code = cli.main(["sweep", *paths[:2], "--samples", csv, "--no-align", "-k", "4"])
    out, _ = capsys.readouterr()
    assert code == 0 and "Most central net" in out and "After alignment" not in out
    code = cli.main(["sweep", *paths, "--samples", csv, "-k", "4", "--refine-budget", "150",
                     "--repair", "--json"])
    d = json.loads(capsys.readouterr()[0])
    assert code == 0 and d["post"] == serial.post[:3, :3].tolist() and d["repaired"][1][2] >= 0


def test_cli_sweep_bad_input_is_exit_2(nets, samples, tmp_path, capsys):
    paths, csv = _write_nets_and_samples(tmp_path, nets[:2], samples)
    other = tmp_path / "other.nn"
    toy.trained_net(1, 2, hidden=(8, 7)).save_to_file(other)
    for argv, message in ((["sweep", paths[0], "--samples", csv], "at least two nets"),
                          (["sweep", *paths, str(other), "--samples", csv],
                           "different architectures"),
                          (["sweep", *paths, "--samples", csv, "--jobs", "2", "--scheduler",
                            "tcp://localhost:1"], "not both")):
        code = cli.main(argv)
        _, err = capsys.readouterr()
        assert code == 2 and message in err


def test_path_labels_are_the_shortest_distinct_tails():
    from pyneural.reports.sweep import path_labels
    runs = [f"runs/seed{s}/model.nn" for s in (1, 2, 3)]
    assert path_labels(runs) == ["seed1/model.nn", "seed2/model.nn", "seed3/model.nn"]
    assert path_labels(["a/x.nn", "b/c/x.nn", "y.nn"]) == ["a/x.nn", "c/x.nn", "y.nn"]
    assert path_labels(["x.nn", "a/x.nn"]) == ["x.nn", "a/x.nn"]
    assert path_labels(["./d/m.nn", "d/m.nn"]) == ["d/m.nn #0", "d/m.nn #1"]


def test_sweep_labels_files_by_their_distinct_tails(nets, samples, tmp_path, capsys):
    paths = []
    for s, net in enumerate(nets[:3], 1):
        (tmp_path / "runs" / f"seed{s}").mkdir(parents=True)
        paths.append(str(tmp_path / "runs" / f"seed{s}" / "model.nn"))
        net.save_to_file(paths[-1])
    X, Y = samples
    csv = tmp_path / "probes.csv"
    csv.write_text(csv_text("x0,x1,y0,y1,y2", np.hstack([X, Y])))
    labels = ["seed1/model.nn", "seed2/model.nn", "seed3/model.nn"]
    r = pn.barrier_matrix(paths, samples, align=False, k=2, progress=False)
    assert r.names == labels
    assert cli.main(["sweep", *paths, "--samples", str(csv), "-k", "2", "--no-align"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[lines.index("Before alignment:") + 1].split() == labels
    out = "\n".join(lines)
    for label in labels:
        assert sum(line.startswith(label) for line in out.splitlines()) == 1


def _closed_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_scheduler_address_fails_within_the_connect_timeout(nets, samples, tmp_path,
                                                                     capsys):
    need("distributed")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    def bounded(fn):
        # A bound well below Dask's own 30 s: the timeout must reach the client.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(fn).result(timeout=20)

    with pytest.raises(OSError, match=r"no Dask scheduler answered at .* within 0.5 s"):
        bounded(lambda: pn.barrier_matrix(nets[:2], samples, scheduler=address,
                                          connect_timeout=0.5, **OPTIONS))
    paths, csv = _write_nets_and_samples(tmp_path, nets[:2], samples)
    code = bounded(lambda: cli.main(["sweep", *paths, "--samples", csv, "--scheduler", address,
                                     "--connect-timeout", "0.5"]))
    err = capsys.readouterr().err
    assert code == 2 and "--scheduler: no Dask scheduler answered at" in err
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="connect_timeout"):
            pn.barrier_matrix(nets[:2], samples, scheduler=address, connect_timeout=bad)
    with pytest.raises(TypeError, match="connect_timeout"):
        pn.barrier_matrix(nets[:2], samples, scheduler=address, connect_timeout="5")
    assert cli.main(["sweep", *paths, "--samples", csv, "--connect-timeout", "1"]) == 2
    assert "--connect-timeout is for --scheduler" in capsys.readouterr().err
