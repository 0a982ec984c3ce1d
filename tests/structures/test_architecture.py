"""BlockArchitecture: JSON round trip, canonical hash vs brute-force isomorphism, validation."""

import itertools
import json

import numpy as np
import pytest

from ghnas.data.metadata import DatasetMetadata
from ghnas.layers.classification_ops import CLASSIFICATION_OPS
from ghnas.search_spaces import ClassificationSearchSpace
from ghnas.structures.architecture import BLOCK_INPUTS, BlockArchitecture
from ghnas.utils.errors import GhnasError

OPS = tuple(CLASSIFICATION_OPS)
META = DatasetMetadata(num_classes=3, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)


def sampler(n: int) -> ClassificationSearchSpace:
    return ClassificationSearchSpace(num_nodes=n, num_blocks=1, init_channels=2, meta=META)


def random_archs(seed: int, count: int, sizes=(1, 2, 3, 4), ops=OPS):
    """Random valid blocks; ``ops`` can be narrowed so that isomorphic pairs are frequent."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        n = int(rng.choice(sizes))
        parents = []
        for j in range(n):
            k = min(int(rng.integers(1, 3)), j + 2)
            parents.append(tuple(int(p) for p in rng.choice(j + 2, size=k, replace=False)))
        read = {p for ps in parents for p in ps}
        if {0, 1} <= read:
            chosen = tuple(ops[int(i)] for i in rng.integers(len(ops), size=n))
            out.append(BlockArchitecture(chosen, tuple(parents)))
    return out


def brute_force_canonical(arch: BlockArchitecture):
    """Canonical form up to isomorphism: the smallest relabelled (op, parent set) listing over
    every permutation of the op nodes (input nodes 0 and 1 keep their labels)."""
    n = arch.num_nodes
    best = None
    for perm in itertools.permutations(range(n)):
        new = {0: 0, 1: 1, **{j + 2: perm[j] + 2 for j in range(n)}}
        listing = [None] * n
        for j, (op, parents) in enumerate(zip(arch.ops, arch.parents)):
            listing[perm[j]] = (op, tuple(sorted(new[p] for p in parents)))
        listing = tuple(listing)
        if best is None or listing < best:
            best = listing
    return best


def unfolding(arch: BlockArchitecture) -> str:
    """The hash's documented semantics without hashing: each node as the nested term of its
    label and its parents' terms (sorted), the block as the sorted terms of its leaves."""
    labels = list(BLOCK_INPUTS) + list(arch.ops)
    parents = [(), ()] + list(arch.parents)

    def term(v):
        return labels[v] + "(" + ",".join(sorted(term(p) for p in parents[v])) + ")"

    read = {p for ps in arch.parents for p in ps}
    leaves = [v for v in range(2, arch.num_nodes + 2) if v not in read]
    return "[" + ",".join(sorted(term(v) for v in leaves)) + "]"


def has_twins(arch: BlockArchitecture) -> bool:
    """Two op nodes computing the same term (same op over the same terms)."""
    labels = list(BLOCK_INPUTS) + list(arch.ops)
    parents = [(), ()] + list(arch.parents)
    terms = []
    for v in range(len(labels)):
        terms.append(labels[v] + "(" + ",".join(sorted(terms[p] for p in parents[v])) + ")")
    return len(set(terms)) < len(terms)


def relabel(arch: BlockArchitecture, rng: np.random.Generator) -> BlockArchitecture:
    """A random other topological order of the op nodes, with each parent list shuffled."""
    n = arch.num_nodes
    pending, order = set(range(n)), []
    while pending:
        ready = sorted(j for j in pending if all(p < 2 or p - 2 in order for p in arch.parents[j]))
        j = ready[int(rng.integers(len(ready)))]
        order.append(j)
        pending.remove(j)
    new = {0: 0, 1: 1, **{old + 2: pos + 2 for pos, old in enumerate(order)}}
    ops = tuple(arch.ops[j] for j in order)
    parents = tuple(
        tuple(new[p] for p in rng.permutation(list(arch.parents[j])).tolist()) for j in order
    )
    return BlockArchitecture(ops, parents)


# --------------------------------------------------------------------------- JSON round trip


def test_to_dict_layout():
    arch = BlockArchitecture(("conv_1x1", "identity"), ((0, 1), (2,)))
    assert arch.to_dict() == {
        "nodes": [{"op": "conv_1x1", "inputs": [0, 1]}, {"op": "identity", "inputs": [2]}]
    }
    assert arch.num_nodes == 2
    assert arch.leaves == (3,)


@pytest.mark.parametrize("n", [1, 3, 7, 17])
def test_json_round_trip(n):
    rng = np.random.default_rng(n)
    for _ in range(10):
        arch = sampler(n).sample(rng)
        text = json.dumps(arch.to_dict())
        back = BlockArchitecture.from_dict(json.loads(text))
        assert back == arch
        assert back.ops == arch.ops and back.parents == arch.parents
        assert isinstance(back.parents, tuple) and all(isinstance(p, tuple) for p in back.parents)
        assert back.canonical_hash == arch.canonical_hash
        assert json.dumps(back.to_dict()) == text
        assert hash(back) == hash(arch)


def test_lists_are_frozen_into_tuples():
    arch = BlockArchitecture(["conv_1x1"], [[1, 0]])
    assert arch.ops == ("conv_1x1",) and arch.parents == ((1, 0),)
    with pytest.raises(AttributeError):
        arch.ops = ("identity",)


# --------------------------------------------------------------------------- canonical hash


@pytest.mark.parametrize("seed", range(5))
def test_isomorphic_relabellings_hash_equal(seed):
    rng = np.random.default_rng(seed)
    changed_order = 0
    for arch in random_archs(seed, 20, sizes=(2, 3, 4, 5, 6)):
        for _ in range(3):
            other = relabel(arch, rng)
            assert brute_force_canonical(other) == brute_force_canonical(arch)
            assert other.canonical_hash == arch.canonical_hash
            changed_order += other.to_dict() != arch.to_dict()
    assert changed_order > 20  # the relabellings really differ from the original listing


def test_parent_order_does_not_matter():
    a = BlockArchitecture(("sep_conv_3x3", "conv_1x1"), ((0, 1), (1, 2)))
    b = BlockArchitecture(("sep_conv_3x3", "conv_1x1"), ((1, 0), (2, 1)))
    assert a.canonical_hash == b.canonical_hash
    # The two inputs are different nodes: swapping their roles is another architecture.
    c = BlockArchitecture(("sep_conv_3x3", "conv_1x1"), ((0, 1), (0, 2)))
    assert brute_force_canonical(c) != brute_force_canonical(a)
    assert c.canonical_hash != a.canonical_hash


def test_hash_agrees_with_unfolding_and_isomorphism():
    """Over a pool with many isomorphic pairs (two ops only): equal hash <=> equal unfolding;
    isomorphic => equal hash; equal hash => isomorphic when neither block has twin nodes."""
    pool = random_archs(11, 150, sizes=(1, 2, 3, 4), ops=("identity", "conv_1x1"))
    hashes = [a.canonical_hash for a in pool]
    terms = [unfolding(a) for a in pool]
    canon = [brute_force_canonical(a) for a in pool]
    twins = [has_twins(a) for a in pool]
    iso_pairs = 0
    for i, j in itertools.combinations(range(len(pool)), 2):
        assert (hashes[i] == hashes[j]) == (terms[i] == terms[j]), (pool[i], pool[j])
        if canon[i] == canon[j]:
            iso_pairs += pool[i] != pool[j]
            assert hashes[i] == hashes[j], (pool[i], pool[j])
        elif not (twins[i] or twins[j]):
            assert hashes[i] != hashes[j], (pool[i], pool[j])
    assert iso_pairs > 10


@pytest.mark.parametrize("seed", range(3))
def test_changed_op_or_edge_changes_the_hash(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for arch in random_archs(100 + seed, 30, sizes=(2, 3, 4, 5)):
        j = int(rng.integers(arch.num_nodes))
        ops = list(arch.ops)
        ops[j] = OPS[(OPS.index(ops[j]) + 1 + int(rng.integers(len(OPS) - 1))) % len(OPS)]
        variants = [BlockArchitecture(tuple(ops), arch.parents)]
        parents = list(arch.parents)
        free = [q for q in range(j + 2) if q not in parents[j]]
        if free:
            row = list(parents[j])
            row[int(rng.integers(len(row)))] = int(rng.choice(free))
            parents[j] = tuple(row)
            try:
                variants.append(BlockArchitecture(arch.ops, tuple(parents)))
            except GhnasError:
                pass  # the rewired edge left an input unread
        for other in variants:
            if has_twins(arch) or has_twins(other):
                continue
            checked += 1
            expected_equal = brute_force_canonical(other) == brute_force_canonical(arch)
            assert (other.canonical_hash == arch.canonical_hash) == expected_equal
    assert checked > 30


def test_changed_op_in_a_small_block():
    base = BlockArchitecture(("conv_1x1", "sep_conv_3x3"), ((0,), (2, 1)))
    for op in OPS:
        if op != "conv_1x1":
            assert BlockArchitecture((op, "sep_conv_3x3"), base.parents).canonical_hash != (
                base.canonical_hash
            )
    rewired = BlockArchitecture(base.ops, ((1,), (2, 0)))
    assert rewired.canonical_hash != base.canonical_hash


def test_twin_nodes_are_not_merged():
    # Two separate conv_1x1 over input 0, each read by its own sep_conv ...
    twins = BlockArchitecture(
        ("conv_1x1", "conv_1x1", "sep_conv_3x3", "sep_conv_3x3"), ((0,), (0,), (2, 1), (3, 1))
    )
    # ... versus one conv_1x1 read by both sep_convs: a different network (fewer FLOPs).
    shared = BlockArchitecture(("conv_1x1", "sep_conv_3x3", "sep_conv_3x3"), ((0,), (2, 1), (2, 1)))
    space = sampler(4)
    assert space.analytic_flops(twins) != space.analytic_flops(shared)
    assert brute_force_canonical(twins) != brute_force_canonical(shared)
    assert twins.canonical_hash != shared.canonical_hash


# --------------------------------------------------------------------------- validation

INVALID = {
    "unknown_op": (("conv_9x9",), ((0, 1),), r"unknown op 'conv_9x9'; accepted: identity"),
    "cycle": (("identity", "identity"), ((0, 3), (1, 2)), r"cycle through nodes"),
    "self_loop": (("identity", "identity"), ((0, 1), (3,)), r"cycle through nodes 3 -> 3"),
    "forward_reference": (
        ("identity", "identity"),
        ((3,), (0, 1)),
        r"node 2 reads later node 3; list nodes in topological order",
    ),
    "dangling_edge": (("identity",), ((0, 1, 5),), r"reads node 5, which does not exist"),
    "negative_edge": (("identity",), ((0, -1),), r"reads node -1, which does not exist"),
    "non_int_edge": (("identity",), ((0, "1"),), r"reads node '1', which does not exist"),
    "bool_edge": (("identity",), ((0, True),), r"reads node True, which does not exist"),
    "no_inputs": (("identity", "conv_1x1"), ((0, 1), ()), r"node 3 \(conv_1x1\) has no inputs"),
    "duplicated_input": (("identity",), ((0, 1, 0),), r"node 2 lists an input twice"),
    "input_prev_unread": (("identity",), ((1,),), r"input node 0 \(input_prev\) is never read"),
    "input_prevprev_unread": (
        ("identity", "identity"),
        ((0,), (2,)),
        r"input node 1 \(input_prevprev\) is never read",
    ),
    "empty_block": ((), (), r"at least one op node"),
    "length_mismatch": (("identity", "identity"), ((0, 1),), r"2 ops but 1 parent lists"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_blocks_are_rejected(case):
    ops, parents, message = INVALID[case]
    with pytest.raises(GhnasError, match=message):
        BlockArchitecture(ops, parents)
    if len(ops) == len(parents):  # the same problem arriving as a dict
        data = {"nodes": [{"op": o, "inputs": list(p)} for o, p in zip(ops, parents)]}
        with pytest.raises(GhnasError, match=message):
            BlockArchitecture.from_dict(json.loads(json.dumps(data)))


MALFORMED = {
    "not_a_dict": ([{"op": "identity", "inputs": [0, 1]}], r"expected \{'nodes'"),
    "none": (None, r"expected \{'nodes'"),
    "no_nodes_key": ({"ops": []}, r"expected \{'nodes'"),
    "nodes_not_a_list": ({"nodes": "identity"}, r"expected \{'nodes'"),
    "node_not_a_dict": ({"nodes": [["identity", [0, 1]]]}, r"expected \{'nodes'"),
    "missing_inputs": ({"nodes": [{"op": "identity"}]}, r"lacks the key 'inputs'"),
    "missing_op": ({"nodes": [{"inputs": [0, 1]}]}, r"lacks the key 'op'"),
    "empty_nodes": ({"nodes": []}, r"at least one op node"),
    "op_not_a_string": ({"nodes": [{"op": 3, "inputs": [0, 1]}]}, r"unknown op 3"),
    "float_input": ({"nodes": [{"op": "identity", "inputs": [0, 1.0]}]}, r"does not exist"),
}
MALFORMED.update(
    {
        "inputs_not_a_list": ({"nodes": [{"op": "identity", "inputs": 5}]}, "inputs"),
        "inputs_null": ({"nodes": [{"op": "identity", "inputs": None}]}, "inputs"),
        "op_unhashable": ({"nodes": [{"op": ["identity"], "inputs": [0, 1]}]}, "unknown op"),
    }
)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_dicts_are_rejected(case):
    data, message = MALFORMED[case]
    with pytest.raises(GhnasError, match=message):
        BlockArchitecture.from_dict(data)
