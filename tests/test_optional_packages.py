"""pyneural with only numpy and scipy: the import, the core API and the CLI
run in a child interpreter where every optional package is blocked, and the
features that need one say what to install (exit 2 on the command line)."""
import subprocess
import sys
import textwrap

from conftest import FIXTURES

EXAMPLE = FIXTURES / "example"
OPTIONAL = ["torch", "safetensors", "dask", "distributed", "joblib", "matplotlib", "sklearn",
            "threadpoolctl", "mlxtend", "hypothesis"]

CHILD = textwrap.dedent("""
    import sys
    for name in {optional!r}:
        sys.modules[name] = None
    import pyneural as pn
    from pyneural import cli, toy
    a, b = pn.load({a!r}), pn.load({b!r})
    probes = toy.build_probes()
    assert a.mode_connectivity_report(b, probes).barrier > 0.05
    r = a.permutation_align_report(b, probes, refine=False)
    assert r.post_barrier < r.pre_barrier
    assert a.merge_with(b, probes, refine=False, repair=True).net is not None
    m = pn.barrier_matrix([a, b], probes, refine=False, progress=False)
    assert m.post[0, 1] == r.post_barrier
    a.save({tmp!r} + "/a.npz")
    assert pn.load({tmp!r} + "/a.npz").save_to_string() == a.save_to_string()
    ok = [["info", {a!r}],
          ["align", {a!r}, {b!r}, "--samples", {s!r}, "--no-refine", "--json"],
          ["connect", {a!r}, {b!r}, "--samples", {s!r}, "--repair"],
          ["permute", {b!r}, "--to", {a!r}, "--samples", {s!r}, "--no-refine",
           "-o", {tmp!r} + "/p.nn"],
          ["merge", {a!r}, {b!r}, "--samples", {s!r}, "--no-refine", "-o", {tmp!r} + "/m.npz"],
          ["sweep", {a!r}, {b!r}, {a!r}, "--samples", {s!r}, "--no-refine"]]
    for argv in ok:
        assert cli.main(argv) == 0, argv
    needs = [(["connect", {a!r}, {b!r}, "--samples", {s!r}, "--plot", {tmp!r} + "/c.png"],
              "pyneural[plot]"),
             (["sweep", {a!r}, {b!r}, "--samples", {s!r}, "--jobs", "2"], "pyneural[parallel]"),
             (["sweep", {a!r}, {b!r}, "--samples", {s!r}, "--scheduler", "tcp://127.0.0.1:1"],
              "pyneural[distributed]"),
             (["permute", {b!r}, "--to", {a!r}, "--samples", {s!r}, "-o",
               {tmp!r} + "/p.safetensors"], "safetensors")]
    for argv, extra in needs:
        assert cli.main(argv) == 2, argv
    print("CHILD OK")
""")


def test_core_api_and_cli_with_numpy_and_scipy_only(tmp_path):
    code = CHILD.format(optional=OPTIONAL, a=str(EXAMPLE / "A.nn"), b=str(EXAMPLE / "B.nn"),
                        s=str(EXAMPLE / "probes.csv"), tmp=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "CHILD OK" in proc.stdout, proc.stderr[-3000:]
    errors = [l for l in proc.stderr.splitlines() if l.startswith("pyneural: error:")]
    for extra in ("pyneural[plot]", "pyneural[parallel]", "pyneural[distributed]",
                  "safetensors"):
        assert any(extra in l for l in errors), (extra, errors)
    assert "Traceback" not in proc.stderr
