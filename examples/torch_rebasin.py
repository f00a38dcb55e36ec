"""Git Re-Basin for PyTorch MLPs
=============================

Git Re-Basin for PyTorch MLPs: two torch models in, the report, the merged
model back into torch.

Two 64-64-64-10 ReLU MLPs are trained in torch on scikit-learn's bundled
``digits`` (no download) from different seeds, with MSE on one-hot targets
(the loss pyneural's reports measure), and saved with
``safetensors.torch.save_file``. pyneural loads the files (``activations``
says what follows each Linear), prints the permutation-alignment report,
merges B into A (alignment + REPAIR), and writes the merged net as a
``.safetensors`` file that a fresh ``nn.Sequential`` loads with
``load_state_dict``: torch and pyneural then compute the same outputs.

.. code-block:: bash

    pip install 'pyneural[torch,examples]'
    python examples/torch_rebasin.py             # seconds of torch training; files go to a temp dir
    python examples/torch_rebasin.py --no-plot

It prints how long the torch training took and where it wrote the files;
with matplotlib it saves the report's loss curves (``torch_rebasin.png``).
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import pyneural as pn

HIDDEN = 64
EPOCHS = 30
SEEDS = (1, 2)
ACTIVATIONS = "relu,relu,linear"
N_TRAIN, N_PROBE = 1200, 300          # the rest (297) is the test split


def need(module, extra):
    try:
        return __import__(module)
    except ImportError:
        print(f"this example needs {module}: pip install 'pyneural[{extra}]'", file=sys.stderr)
        sys.exit(2)


def digits():
    """``{"train" | "probe" | "test": (X, Y)}``: float32 pixels in [0, 1],
    one-hot targets, a fixed shuffle."""
    from sklearn.datasets import load_digits
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[d.target]
    order = np.random.default_rng(0).permutation(len(X))
    X, Y = X[order], Y[order]
    return {"train": (X[:N_TRAIN], Y[:N_TRAIN]),
            "probe": (X[N_TRAIN:N_TRAIN + N_PROBE], Y[N_TRAIN:N_TRAIN + N_PROBE]),
            "test": (X[N_TRAIN + N_PROBE:], Y[N_TRAIN + N_PROBE:])}


def mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, 10))


def train(torch, seed, X, Y):
    """A torch MLP from ``manual_seed(seed)``: Adam, MSE, minibatches of 64."""
    torch.manual_seed(seed)
    model = mlp(torch)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(X), generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(X[idx]), Y[idx]).backward()
            opt.step()
    return model.eval()


def accuracy(outputs, Y):
    return float(np.mean(outputs.argmax(axis=1) == Y.argmax(axis=1)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", default="torch_rebasin.png",
                        help="where to save the report's loss curves")
    parser.add_argument("--no-plot", action="store_true", help="do not plot")
    args = parser.parse_args(argv)
    torch = need("torch", "torch")
    need("safetensors", "safetensors")
    need("sklearn", "examples")
    import safetensors.torch

    torch.set_num_threads(1)          # tiny matrices: threads only add overhead
    data = digits()
    Xt, Yt = data["test"]
    work = Path(tempfile.mkdtemp(prefix="torch_rebasin-"))
    start = time.perf_counter()
    for name, seed in zip("AB", SEEDS):
        model = train(torch, seed, *data["train"])
        safetensors.torch.save_file(model.state_dict(), work / f"{name}.safetensors")
    print(f"Trained two torch MLPs 64-{HIDDEN}-{HIDDEN}-10 (seeds {SEEDS}) in "
          f"{time.perf_counter() - start:.1f} s; saved {work}/A.safetensors, B.safetensors")

    a = pn.load(work / "A.safetensors", activations=ACTIVATIONS)
    b = pn.load(work / "B.safetensors", activations=ACTIVATIONS)
    print(f"Loaded as {a}\n")
    report = a.permutation_align_report(b, data["probe"], progress=False)
    print(report)
    if not args.no_plot:
        try:
            report.plot(args.plot)
            print(f"(loss curves saved to {args.plot})\n")
        except ImportError as exc:
            print(f"({exc})\n")

    result = a.merge_with(b, data["probe"], repair=True, eval_samples=data["test"],
                          refine_budget=2000, progress=False)
    print(result)
    merged_path = work / "merged.safetensors"
    result.net.save(merged_path)

    back = mlp(torch)
    back.load_state_dict(safetensors.torch.load_file(merged_path))
    with torch.no_grad():
        torch_out = back(torch.from_numpy(Xt)).numpy()
    pn_out = result.net.compute_batch(Xt, exact=True)
    print(f"Merged net back in torch ({merged_path}): test accuracy "
          f"{100 * accuracy(torch_out, Yt):.2f}% (pyneural {100 * accuracy(pn_out, Yt):.2f}%), "
          f"max |torch - pyneural| output difference {np.max(np.abs(torch_out - pn_out)):.2e}")
    same = np.allclose(torch_out, pn_out, rtol=1e-5, atol=1e-5)
    print("Same outputs (float32 tolerance):", "yes" if same else "NO")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

# %%
# What a run saves to ``torch_rebasin.png``: the loss along the path
# between the two torch MLPs on the probes, before and after alignment.
#
# .. image:: /_static/plots/torch_rebasin.png
#    :alt: torch_rebasin.png
#
# sphinx_gallery_thumbnail_path = '_static/plots/torch_rebasin.png'
