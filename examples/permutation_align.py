"""Port of the Pascal PermutationAlign example: two MLPs trained from
different inits, aligned by weight matching (RUN 1), activation matching
(RUN 2), and a net aligned to itself (CHECK). Same seeds, same constants,
same run order as the original, and the same output, number for number.
"""
import sys

from pyneural import rng, toy


def build_pair():
    rng.set_seed(101)
    a = toy.build_net()
    rng.set_seed(999)
    b = toy.build_net()
    rng.set_seed(11)
    toy.train_net(a)
    rng.set_seed(22)
    toy.train_net(b)
    return a, b


def original_runs(out=sys.stdout):
    probes = toy.build_probes()
    print("=== PermutationAlign demo: Git Re-Basin neuron-permutation alignment ===", file=out)
    print("Two MLPs trained from DIFFERENT inits -> a real barrier pre-alignment", file=out)
    print("that should visibly shrink once the permutation symmetry is removed.", file=out)
    print(file=out)

    print("RUN 1 - DIFFERENT inits, WEIGHT matching (align by weight-row cosine).", file=out)
    a, b = build_pair()
    print(a.permutation_align_report(b.save_data_to_string(), probes, 0, 10), file=out)
    print(file=out)

    print("RUN 2 - DIFFERENT inits, ACTIVATION matching (align by activation corr).", file=out)
    a, b = build_pair()
    print(a.permutation_align_report(b.save_data_to_string(), probes, 1, 10), file=out)
    print(file=out)

    print("CHECK - align-to-self (SnapshotB := A): identity perms, zero barrier.", file=out)
    rng.set_seed(303)
    a = toy.build_net()
    rng.set_seed(11)
    toy.train_net(a)
    print(a.permutation_align_report(a.save_data_to_string(), probes, 0, 8), file=out)
    return probes


def main():
    original_runs()


if __name__ == "__main__":
    main()
