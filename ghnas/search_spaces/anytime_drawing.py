"""Drawings of an anytime architecture: one PNG per block, exits in red (Figures 8-10)."""

import os
from typing import Dict, List

from ghnas.utils.visualization import draw_dag

SCALE_NOTES = ("scale 1", "scale 1/2", "scale 1/4")


def draw_anytime_blocks(arch, directory: str) -> List[str]:
    """``block1.png`` ... : each block's nodes, with inputs from outside the block as grey boxes.

    ``arch.nodes[i]`` is node ``i + 1`` (node 0 is the stem); an input from an earlier block or
    the stem is drawn once per block as "from #id" so each picture stands alone.
    """
    paths = []
    for block in sorted({node.block for node in arch.nodes}):
        members = [i + 1 for i, node in enumerate(arch.nodes) if node.block == block]
        local: Dict[int, int] = {}
        labels: List[str] = []
        notes: List[str] = []
        for parent in sorted(
            {p for m in members for p in arch.nodes[m - 1].parents} - set(members)
        ):
            local[parent] = len(labels)
            labels.append("stem" if parent == 0 else f"from #{parent}")
            notes.append("" if parent == 0 else SCALE_NOTES[arch.nodes[parent - 1].scale])
        for member in members:
            local[member] = len(labels)
            node = arch.nodes[member - 1]
            labels.append(f"#{member} {node.op}")
            notes.append(SCALE_NOTES[node.scale])
        edges = [(local[p], local[m]) for m in members for p in arch.nodes[m - 1].parents]
        # Nodes read by later blocks point at one "to later blocks" box, so none looks dead.
        read_later = sorted({p for i, node in enumerate(arch.nodes) if node.block > block
                             for p in node.parents if p in members})  # fmt: skip
        if read_later:
            labels.append("to later blocks")
            notes.append("")
            edges += [(local[p], len(labels) - 1) for p in read_later]
        exits = [local[m] for m in members if arch.nodes[m - 1].exit]
        path = os.path.join(directory, f"block{block + 1}.png")
        title = f"Block {block + 1} of {arch.canonical_hash[:12]}"
        paths.append(
            draw_dag(
                path, labels=labels, edges=edges, highlighted=exits, node_notes=notes, title=title
            )
        )
    return paths
