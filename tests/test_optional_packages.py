"""pyneural with only numpy and scipy: the import, the core API and the CLI
run in a child interpreter where every optional package is blocked, and the
features that need one say what to install (exit 2 on the command line)."""
import os
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


# Runs pytest on the named tests with the packages blocked.
BLOCKED_RUN = ("import sys\n"
               "for name in ('torch', 'distributed'):\n"
               "    sys.modules[name] = None\n"
               "import pytest\n"
               "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-rs',\n"
               "                      '--continue-on-collection-errors'] + sys.argv[1:]))")
NEEDS_OPTIONAL = ["tests/test_io_torch.py",
                  "tests/test_sweep.py::test_a_dead_scheduler_address_fails_within_the_connect_"
                  "timeout"]


def test_ci_fails_instead_of_skipping_when_an_optional_package_is_missing():
    """With PYNEURAL_REQUIRE_OPTIONAL=1 (.ci/run sets it) a test module or a
    test that needs a missing optional package fails; without it, they are
    skipped (a developer's machine without torch)."""
    root = FIXTURES.parents[1]
    env = {k: v for k, v in os.environ.items() if k != "PYNEURAL_REQUIRE_OPTIONAL"}

    def run(extra_env):
        return subprocess.run([sys.executable, "-c", BLOCKED_RUN, *NEEDS_OPTIONAL], cwd=root,
                              env={**env, **extra_env}, capture_output=True, text=True,
                              timeout=300)

    relaxed = run({})
    assert relaxed.returncode == 0, relaxed.stdout[-3000:]
    assert "2 skipped" in relaxed.stdout and "torch is not installed" in relaxed.stdout
    strict = run({"PYNEURAL_REQUIRE_OPTIONAL": "1"})
    assert strict.returncode != 0, strict.stdout[-3000:]
    for name in ("torch", "distributed"):
        assert (f"{name} is not installed, and PYNEURAL_REQUIRE_OPTIONAL=1 requires every "
                "optional package") in strict.stdout, strict.stdout[-3000:]
    assert "1 failed" in strict.stdout and "1 error" in strict.stdout
