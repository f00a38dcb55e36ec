"""One lock rule (docs/guide/porting.md, Threads): every method that reads
or writes a whole net takes one state of it, or swaps a state built aside
in, under ``net.lock``.

Each test makes one race happen at a fixed point: a hook on a step of the
call runs another thread's action (a reload, a restore, a training pass) at
that moment. The hook waits for the action to finish, unless the calling
thread holds the net's lock at that point: then the action waits for the
lock, as it would in real use, and runs once the call lets go of it. So the
outcome is the same on every run, and a call that checks or reads outside
the lock sees the other thread's change where it must not.
"""
import copy
import pickle
import threading

import numpy as np
import pytest

import pyneural as pn
from pyneural import toy
from pyneural.reports import merge as merge_module
from pyneural.reports import repair as repair_module
from pyneural.reports import sweep as sweep_module
from pyneural.reports import symmetry
from pyneural.rng import FPCRandom
from test_io import example
from test_one_way_in import net_of


class Meanwhile:
    """``action`` run in another thread at one step of a call: ``after``
    hooks a function, ``before_locking`` the call's first taking of the
    net's lock."""

    def __init__(self, lock, action):
        self.lock, self.action = lock, action
        self.threads, self.errors = [], []

    def after(self, monkeypatch, owner, name, nth=1, before=False):
        """Wrap ``owner.name`` so that its ``nth`` call fires the action
        after the wrapped function returns (or just before it runs)."""
        real, calls = getattr(owner, name), []

        def hooked(*args, **kwargs):
            calls.append(1)
            if before and len(calls) == nth:
                self.fire()
            result = real(*args, **kwargs)
            if not before and len(calls) == nth:
                self.fire()
            return result
        monkeypatch.setattr(owner, name, hooked)
        return self

    def before_locking(self, monkeypatch, net):
        """Fire the action when this thread first takes ``net.lock``: what
        the call read before it is then out of date."""
        monkeypatch.setattr(net, "lock", _FiringLock(net.lock, self.fire))
        return self

    def fire(self):
        if self.threads:
            return
        thread = threading.Thread(target=self._run)
        thread.start()
        self.threads.append(thread)
        # RLock._is_owned: the one way to ask whether this thread holds the
        # lock; then the action cannot run before the caller lets go of it.
        if not self.lock._is_owned():
            thread.join()

    def _run(self):
        try:
            self.action()
        except Exception as exc:          # noqa: BLE001 - raised in join()
            self.errors.append(exc)

    def join(self):
        """Wait for the action; it must have run, without an error."""
        for thread in self.threads:
            thread.join()
        assert self.threads, "the hooked step was never reached"
        if self.errors:
            raise self.errors[0]


class _FiringLock:
    """A net's lock that calls ``fire`` when the thread that made it first
    takes it (the action's own thread takes it as usual)."""

    def __init__(self, lock, fire):
        self._lock, self._fire, self._owner = lock, fire, threading.get_ident()

    def acquire(self, *args, **kwargs):
        if threading.get_ident() == self._owner and not self._lock._is_owned():
            self._fire()
        return self._lock.acquire(*args, **kwargs)

    def release(self):
        self._lock.release()

    def _is_owned(self):
        return self._lock._is_owned()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def in_either_order(call):
    """``call()``, which may come before the other thread's reload (it
    returns) or after it (ArchitectureError): anything else fails."""
    try:
        call()
    except pn.ArchitectureError as exc:
        assert "layer 2" in str(exc)


def text_with(net, snap):
    twin = net.clone()
    twin.restore(snap)
    return twin.save_to_string()


# ------------------------------------------------------------ copies --

@pytest.mark.parametrize("copier", [lambda n: pickle.loads(pickle.dumps(n)), copy.deepcopy,
                                    copy.copy], ids=["pickle", "deepcopy", "copy"])
def test_a_copy_of_a_net_is_one_state_while_another_thread_restores(monkeypatch, copier):
    net = net_of([4, 64, 64, 3], 1)
    text_a = net.save_to_string()
    snap_b = net_of([4, 64, 64, 3], 2).snapshot()
    text_b = text_with(net, snap_b)
    # the restore runs between the first and the second volume copied
    hook = Meanwhile(net.lock, lambda: net.restore(snap_b)).after(
        monkeypatch, pn.TNNetVolume, "__reduce_ex__", nth=2)
    twin = copier(net)
    hook.join()
    assert net.save_to_string() == text_b
    assert twin.save_to_string() == text_a
    assert twin.lock is not net.lock


def _built(net):
    return net


def _loaded(net):
    return pn.TNNet.from_string(net.save_to_string())


def _unpickled(net):
    return pickle.loads(pickle.dumps(net))


@pytest.mark.parametrize("copier", [lambda l: pickle.loads(pickle.dumps(l)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
@pytest.mark.parametrize("make", [_built, _loaded, _unpickled, pn.TNNet.clone],
                         ids=["add_layer", "load_from_string", "unpickled", "clone"])
def test_a_layer_copied_alone_is_one_state_while_its_net_trains(monkeypatch, copier, make):
    net = make(net_of([4, 32, 3], 1))
    X = np.random.default_rng(0).standard_normal((40, 4)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[np.arange(40) % 3]
    net.fit_samples(X, Y)                      # momentum and outputs of a last sample
    layer = net.layers[1]

    def state(l):
        return l.params.data, l.momentum.data, l.output.data, l.output_raw.data

    before = [a.copy() for a in state(layer)]
    hook = Meanwhile(net.lock, lambda: net.fit_samples(X, Y)).after(
        monkeypatch, pn.TNNetVolume, "__reduce_ex__", nth=2)
    twin = copier(layer)
    hook.join()
    assert not np.array_equal(layer.params.data, before[0])          # it trained
    for got, want in zip(state(twin), before):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------- checks and writes --

# Layer 1 has the same size in both, layer 2 not: a write that checks one
# net and writes into the other fills layer 1, then fails on layer 2.
SMALL, OTHER = [6, 7, 3], [6, 7, 4]


def reload_race(monkeypatch, method, nth=1, widths=OTHER):
    """A net of SMALL, the text of a net of ``widths``, and a hook that
    loads that text into the net after the ``nth`` call of its ``method``,
    or when the call first takes the net's lock (``method`` None)."""
    net = net_of(SMALL, 1)
    other = net_of(widths, 2).save_to_string()
    hook = Meanwhile(net.lock, lambda: net.load_from_string(other))
    if method is None:
        return net, other, hook.before_locking(monkeypatch, net)
    return net, other, hook.after(monkeypatch, net, method, nth)


def test_restore_checks_the_snapshot_against_the_layers_it_writes(monkeypatch):
    snap = net_of(SMALL, 3).snapshot()
    net, other, hook = reload_race(monkeypatch, "_check_snapshot")
    in_either_order(lambda: net.restore(snap))
    hook.join()
    assert net.save_to_string() == other


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_interpolate_never_writes_into_a_net_reloaded_meanwhile(monkeypatch, nth):
    """The reload after checking A, after checking B, or after checking
    the blend: each time the net is the reloaded one, whole."""
    snap_a, snap_b = net_of(SMALL, 3).snapshot(), net_of(SMALL, 4).snapshot()
    net, other, hook = reload_race(monkeypatch, "_check_snapshot", nth)
    in_either_order(lambda: net.interpolate(snap_a, snap_b, 0.25))
    hook.join()
    assert net.save_to_string() == other


def test_init_weights_refuses_to_swap_into_a_net_reloaded_while_it_drew(monkeypatch):
    gen = FPCRandom(5)
    net = net_of(SMALL, 1)
    net._generator = gen
    other = net_of(OTHER, 2).save_to_string()
    hook = Meanwhile(net.lock, lambda: net.load_from_string(other)).after(
        monkeypatch, gen, "random_ints")
    with pytest.raises(pn.ArchitectureError, match="init_weights.*replaced"):
        net.init_weights()
    hook.join()
    assert net.save_to_string() == other


def test_load_data_refuses_to_write_into_a_net_reloaded_while_it_parsed(monkeypatch):
    """Every layer has as many parameters in both nets (4x6 + 4 = 1x27 + 1,
    2x4 + 2 = 5x1 + 5): only the architecture tells the text does not fit."""
    data = net_of([6, 4, 2], 3).save_data_to_string()
    net = net_of([6, 4, 2], 1)
    other = net_of([27, 1, 5], 2).save_to_string()
    hook = Meanwhile(net.lock, lambda: net.load_from_string(other)).before_locking(
        monkeypatch, net)
    with pytest.raises(pn.ArchitectureError, match="replaced"):
        net.load_data_from_string(data)
    hook.join()
    assert net.save_to_string() == other
    with pytest.raises(pn.ArchitectureError):
        net.load_data_from_string(data)


# ----------------------------------------------------------- readers --

def test_a_text_is_one_state_while_another_thread_adds_a_layer(monkeypatch):
    net = net_of(SMALL, 1)
    text = net.save_to_string()
    hook = Meanwhile(net.lock, lambda: net.add_layer(pn.TNNetFullConnectLinear(2))).after(
        monkeypatch, pn.net, "format_structure", before=True)
    assert net.save_to_string() == text
    hook.join()
    assert net.count_layers() == 4


def test_exact_layer_outputs_are_of_one_net_while_another_thread_reloads(monkeypatch):
    X = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    widths = [6, 8, 3]
    want = net_of(widths, 2).layer_outputs(X, exact=True)
    net, _, hook = reload_race(monkeypatch, None, widths=widths)
    got = net.layer_outputs(X, exact=True)
    hook.join()
    assert [a.shape for a in got] == [a.shape for a in want]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_compute_batch_returns_the_outputs_of_the_net_it_computed(monkeypatch):
    X = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    want = net_of(SMALL, 1).compute_batch(X)
    net, _, hook = reload_race(monkeypatch, "_batched")
    got = net.compute_batch(X)
    hook.join()
    np.testing.assert_array_equal(got, want)


def test_get_output_is_a_copy_taken_under_the_lock(monkeypatch):
    """A compute in another thread when the copy starts waits for it."""
    net = net_of(SMALL, 1)
    x = np.ones(6, np.float32)
    want = net.compute(x).copy()
    hook = Meanwhile(net.lock, lambda: net.compute(-x)).after(
        monkeypatch, pn.TNNetVolume, "copy", before=True)
    got = net.get_output()
    hook.join()
    np.testing.assert_array_equal(got.data, want.data)


# ----------------------------------------------------------- reports --
# A report reads each net it is given once: a reload of that net during
# the report changes nothing in its result.

@pytest.fixture
def pair():
    return example("A"), example("B"), toy.build_probes()


def reload_into(net):
    """A load of another architecture into ``net``."""
    other = net_of([2, 5, 3], 9).save_to_string()
    return lambda: net.load_from_string(other)


def test_an_endpoint_net_is_read_once(monkeypatch, pair):
    a, b, probes = pair
    want = a.mode_connectivity_report(b, probes).curve.losses
    hook = Meanwhile(b.lock, reload_into(b)).after(monkeypatch, pn.TNNet,
                                                   "check_same_architecture")
    got = a.mode_connectivity_report(b, probes).curve.losses
    hook.join()
    np.testing.assert_array_equal(got, want)


def test_merge_with_reads_a_once(monkeypatch, pair):
    a, b, probes = pair
    want = a.merge_with(b, probes).net.save_to_string()
    hook = Meanwhile(a.lock, reload_into(a)).after(monkeypatch, merge_module, "probe_arrays")
    got = a.merge_with(b, probes).net.save_to_string()
    hook.join()
    assert got == want


def test_merge_many_reads_its_first_net_once(monkeypatch, pair):
    a, b, probes = pair
    want = pn.merge_many([a, b], probes, rounds=0).net.save_to_string()
    hook = Meanwhile(a.lock, reload_into(a)).after(monkeypatch, merge_module, "new_net_like")
    got = pn.merge_many([a, b], probes, rounds=0).net.save_to_string()
    hook.join()
    assert got == want


def test_repair_reads_the_merged_net_once(monkeypatch, pair):
    a, b, probes = pair
    merged = a.merge_with(b, probes).net
    want = pn.repair(merged, [a, b], probes).net.save_to_string()
    hook = Meanwhile(merged.lock, reload_into(merged)).after(
        monkeypatch, repair_module, "_endpoint_snapshots")
    got = pn.repair(merged, [a, b], probes).net.save_to_string()
    hook.join()
    assert got == want


def test_barrier_matrix_reads_its_template_net_once(monkeypatch, pair):
    a, b, probes = pair
    want = pn.barrier_matrix([a, b], probes, align=False).pre
    hook = Meanwhile(a.lock, reload_into(a)).after(monkeypatch, sweep_module, "_check_finite")
    got = pn.barrier_matrix([a, b], probes, align=False).pre
    hook.join()
    np.testing.assert_array_equal(got, want)


def test_permute_reads_the_net_once(monkeypatch, pair):
    a, _, _ = pair
    perms = [np.roll(np.arange(12), 1), np.arange(12)[::-1]]
    want = pn.permute(a, perms).save_to_string()
    hook = Meanwhile(a.lock, reload_into(a)).after(monkeypatch, symmetry, "check_permutations")
    got = pn.permute(a, perms).save_to_string()
    hook.join()
    assert got == want
