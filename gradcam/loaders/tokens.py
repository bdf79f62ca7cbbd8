"""Token layers of vision transformers as maps.

A transformer block's output is N x T x C: T tokens of C channels, of which the first k are
prefix tokens (a class token, a distillation token, registers) and the other T - k are the image
patches in row-major order on the patch grid (h, w), h * w = T - k. Such a layer is explained as
the N x h x w x C map of its patch tokens, as pytorch-grad-cam's ``reshape_transform`` does for
ViTs (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

The grid is found from the model: the patch embedding is the 4-D map that the first tokens are
computed from (a stride-p convolution gives (H / p, W / p)); a later stage that merges patches
(Swin) halves it; k = T - h * w must be small (at most ``MAX_PREFIX``). Without a patch embedding
the grid is taken square. ``tokens`` / ``grid`` override k and (h, w).

Windowed attention (Swin, Liu et al. 2021, "Swin Transformer: Hierarchical Vision Transformer
using Shifted Windows") partitions the tokens into windows folded into the batch axis: B*nW x
T_w x C, each row a window of T_w tokens, and reverses the partition after the attention.
``windowed`` finds those tensors by their batch axis (a reshape that changes the elements per
row changes what a row is); they are not maps of the image, nor attention over its tokens.

``as_maps`` makes the map part of the graph rather than a copy beside it: the token tensor is
split into prefix and patches, the patches reshaped to the grid (the layer's map), and everything
that read the tokens reads concat(prefix, reshape back) instead, which has the same values. So
the gradient of the score with respect to the map is the gradient with respect to the patch
tokens, reshaped the same way, and feeding the map feeds the tokens reassembled. With k > 0 the
prefix part is a tensor of its own (N x k x C): feeding it with the map feeds the whole layer.
"""

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from nets.tf_compat import tf

MAX_PREFIX = 8  # class + distillation tokens + registers (DINOv2 with registers has 5)
MERGES = 4  # patch-merging stages tried below the patch embedding's grid (Swin has 3)


@dataclass(frozen=True, kw_only=True)
class TokenGrid:
    """A token layer N x ``count`` x ``channels``: ``prefix`` tokens, then ``grid`` (h, w)."""

    count: int
    prefix: int
    grid: tuple
    channels: int

    @property
    def text(self) -> str:
        """ "tokens 37 = 1 + 6x6, 64 channels"."""
        h, w = self.grid
        first = f"{self.prefix} + " if self.prefix else ""
        return f"tokens {self.count} = {first}{h}x{w}, {self.channels} channels"


def is_tokens(tensor) -> bool:
    """A float N x T x C tensor with T > 1 and C fixed."""
    if not tensor.dtype.is_floating or tensor.shape.ndims != 3:
        return False
    _, count, channels = tensor.shape.as_list()
    return count is not None and count > 1 and channels is not None


def is_token_axis_tensor(tensor, counts) -> bool:
    """A 4-D tensor with an axis of T tokens (attention projections N x T x heads x d, attention
    weights N x heads x T x T): not a map."""
    return any(d in counts for d in tensor.shape.as_list()[1:])


def windowed(ops, images) -> set:
    """The tensors among the outputs of ``ops`` (the ops on the path from ``images``, a
    placeholder, in graph order, which is topological) whose rows are not images: each op has a
    batch factor, the rows per image (1 for the input), carried from its first float input on
    the path and changed by a reshape whose rows hold fewer or more elements than its input's
    (windows partitioned into the batch: nW rows per image; reversed: one again). Where a row's
    size is not fixed, the factor is kept."""
    factors, found = {images.op: Fraction(1)}, set()
    for op in ops:
        if op in factors:
            continue
        known = next(
            (
                factors[t.op]
                for t in op.inputs
                if t.dtype.is_floating and factors.get(t.op) is not None
            ),
            None,
        )
        if known is not None and op.type == "Reshape":
            before, after = _row_size(op.inputs[0]), _row_size(op.outputs[0])
            if before and after:
                known = known * Fraction(before, after)
        factors[op] = known
        if known is not None and known != 1:
            found.update(t for t in op.outputs if t.dtype.is_floating)
    return found


def inside_windows(name, argument="layer") -> str:
    """The one-line refusal of a layer ``name`` inside windowed attention."""
    return (
        f"{argument} {name!r} is inside windowed attention: its rows are windows of tokens "
        "(Swin's window partition folds them into the batch), not images; pick a stage's "
        "output tokens (gradcam list layers)"
    )


def _row_size(tensor):
    """Elements per row of ``tensor`` (None when a size is not fixed)."""
    dims = tensor.shape.as_list() if tensor.shape.ndims else None
    if not dims or None in dims[1:]:
        return None
    return math.prod(dims[1:])


def patch_grid(token_tensors, token_land, on_path) -> Optional[tuple]:
    """(h, w) of the patch embedding: the 4-D map nearest before the first token tensor that is
    not itself computed from tokens; None when there is none."""
    if not token_tensors:
        return None
    todo, seen = [token_tensors[0].op], set()
    while todo:
        op = todo.pop(0)
        for tensor in op.inputs:
            if tensor.op in seen or tensor.op not in on_path:
                continue
            seen.add(tensor.op)
            dims = tensor.shape.as_list() if tensor.shape.ndims == 4 else None
            if dims and tensor.op not in token_land and None not in dims[1:3]:
                return dims[1], dims[2]
            todo.append(tensor.op)
    return None


def token_grid(tensor, patches, tokens=None, grid=None) -> Optional[TokenGrid]:
    """The ``TokenGrid`` of a token tensor (None when it does not make one)."""
    _, count, channels = tensor.shape.as_list()
    for h, w in _grids(count, patches, tokens, grid):
        prefix = count - h * w if tokens is None else int(tokens)
        limit = MAX_PREFIX if tokens is None else count
        if h * w > 1 and 0 <= prefix <= limit and prefix + h * w == count:
            return TokenGrid(count=count, prefix=prefix, grid=(h, w), channels=channels)
    return None


def _grids(count, patches, tokens, grid):
    if grid is not None:
        return [tuple(grid)]
    if patches is not None:
        h, w = patches
        return [(h >> j, w >> j) for j in range(MERGES) if h >> j and w >> j]
    first = 0 if tokens is None else int(tokens)
    sides = [math.isqrt(count - k) for k in range(first, count if tokens is None else first + 1)]
    return [(s, s) for s in sides if s]


def as_maps(graph_def, grids: dict, scope: str = "gradcam_tokens"):
    """A copy of ``graph_def`` in which each token tensor of ``grids`` ({tensor name: TokenGrid})
    is read through its map (see the module docstring), {tensor name: map tensor name} and
    {tensor name: prefix tensor name} of the layouts with prefix tokens."""
    out = type(graph_def)()
    out.CopyFrom(graph_def)
    maps, joined, prefixes = {}, {}, {}
    for i, (name, layout) in enumerate(grids.items()):
        nodes, maps[name], joined[name], prefix = _map_nodes(name, layout, f"{scope}_{i}")
        if prefix is not None:
            prefixes[name] = prefix
        out.node.extend(nodes)
    added = {node.name for node in out.node} - {node.name for node in graph_def.node}
    for node in out.node:
        if node.name in added:
            continue
        for j, source in enumerate(node.input):
            full = source if ":" in source or source.startswith("^") else f"{source}:0"
            if full in joined:
                node.input[j] = joined[full]
    return out, maps, prefixes


def _map_nodes(name, layout, scope):
    """NodeDefs computing the map of the token tensor ``name`` and the tokens reassembled from it
    (built in a scratch graph on a placeholder, which is then replaced by ``name``), and the names
    of the map, the reassembled tokens and the prefix tokens (None without)."""
    h, w = layout.grid
    with tf.Graph().as_default() as scratch:
        tokens = tf.placeholder(tf.float32, [None, layout.count, layout.channels], name=scope)
        with tf.name_scope(scope):
            if layout.prefix:
                prefix, patches = tf.split(tokens, [layout.prefix, h * w], axis=1)
            else:
                prefix, patches = None, tokens
            grid = tf.reshape(patches, [-1, h, w, layout.channels], name="map")
            back = tf.reshape(grid, [-1, h * w, layout.channels])
            joined = tf.identity(
                back if prefix is None else tf.concat([prefix, back], axis=1), name="tokens"
            )
    nodes = []
    for node in scratch.as_graph_def().node:
        if node.name == tokens.op.name:
            continue
        for j, source in enumerate(node.input):
            if source.split(":")[0] == tokens.op.name:
                node.input[j] = name
        nodes.append(node)
    return nodes, grid.name, joined.name, None if prefix is None else prefix.name
