"""Tests of the pieces that make fusion training scale: the sparse product with a cached
transpose, the O(n d) discriminator, the GCN layer, spatial mini-batches and their training."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv
from torch_geometric.utils import to_torch_csr_tensor

from spatialfuse.nn._encoders import BilinearDiscriminator, SparseGCNConv
from spatialfuse.nn._model import FusionInputs, FusionModel, LossWeights
from spatialfuse.nn._sparse import SparseMatrix
from spatialfuse.nn._training import embed, induced_subgraph, spatial_batches, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_csr(n_rows: int, n_cols: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    dense = torch.rand(n_rows, n_cols, generator=generator)
    dense[dense < 0.7] = 0  # asymmetric, ~30 % filled
    return dense.to_sparse_csr()


def _grid(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates of a side x side square grid and its 4-neighbour edges (both directions)."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    index = rows * side + cols
    right = torch.stack([index[:, :-1].ravel(), index[:, 1:].ravel()])
    down = torch.stack([index[:-1].ravel(), index[1:].ravel()])
    edges = torch.cat([right, down], dim=1)
    coords = torch.stack([cols.ravel(), rows.ravel()], dim=1).double()
    return coords, torch.cat([edges, edges.flip(0)], dim=1)


def test_sparse_matrix_product_and_gradient_match_dense():
    csr = _random_csr(7, 5)
    dense = csr.to_dense()
    x = torch.randn(5, 3, requires_grad=True)
    out = SparseMatrix(csr) @ x
    torch.testing.assert_close(out, dense @ x)
    grad = torch.randn(7, 3)
    out.backward(grad)
    torch.testing.assert_close(x.grad, dense.T @ grad)


def test_bilinear_discriminator_equals_torch_bilinear():
    torch.manual_seed(0)
    ours = BilinearDiscriminator(6)
    torch.manual_seed(0)
    reference = nn.Bilinear(6, 6, 1)
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), reference.parameters()))
    z, s = torch.randn(20, 6), torch.randn(20, 6)
    torch.testing.assert_close(ours(z, s), reference(z, s))
    ours(z, s).sum().backward()
    reference(z, s).sum().backward()
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad)


def test_sparse_gcn_layer_equals_torch_geometric_gcn():
    torch.manual_seed(1)
    ours = SparseGCNConv(4, 3)
    reference = GCNConv(4, 3, normalize=False)
    reference.load_state_dict(ours.state_dict())
    _, edges = _grid(4)
    weights = torch.rand(edges.shape[1])
    csr = to_torch_csr_tensor(edges.flip(0), weights, size=(16, 16))
    x = torch.randn(16, 4)
    torch.testing.assert_close(ours(x, SparseMatrix(csr)), reference(x, csr))


def test_spatial_batches_are_a_partition_into_compact_patches():
    coords, _ = _grid(40)
    batches = spatial_batches(coords, batch_size=100)
    assert len(batches) == 16
    every = torch.sort(torch.cat(batches)).values
    assert torch.equal(every, torch.arange(1600))
    for batch in batches:
        assert batch.numel() == 100
        extent = coords[batch].max(dim=0).values - coords[batch].min(dim=0).values + 1
        assert extent.prod() <= 1.2 * batch.numel()  # a 10 x 10 square, not a strip
    assert spatial_batches(coords, batch_size=5000)[0].numel() == 1600


def test_induced_subgraph_keeps_only_edges_inside_the_batch():
    coords, edges = _grid(6)
    usable = torch.arange(36) % 5 != 0
    data = FusionInputs.from_graph(torch.randn(36, 3), torch.randn(36, 2), edges, usable)
    nodes = torch.tensor([0, 1, 2, 6, 7, 8])  # a 2 x 3 block: 7 undirected edges
    sub = induced_subgraph(data, nodes)
    assert torch.equal(sub.x_gene, data.x_gene[nodes])
    assert torch.equal(sub.usable, usable[nodes])
    assert sub.edge_index.shape[1] == 2 * 7 + 6  # both directions plus self loops
    assert int(sub.edge_index.max()) == 5


def _grid_data(side: int = 16) -> tuple[torch.Tensor, FusionInputs]:
    """Two domains (left/right halves) visible in the gene features."""
    coords, edges = _grid(side)
    generator = torch.Generator().manual_seed(0)
    domain = (coords[:, 0] >= side / 2).float()
    x_gene = domain[:, None] * 2 + torch.randn(side * side, 6, generator=generator)
    x_image = torch.randn(side * side, 4, generator=generator)
    usable = torch.ones(side * side, dtype=torch.bool)
    return coords, FusionInputs.from_graph(x_gene, x_image, edges, usable)


@pytest.mark.parametrize("method", ["gene", "gated"])
def test_mini_batch_training_learns_and_is_deterministic(method):
    coords, data = _grid_data()
    batches = spatial_batches(coords, batch_size=64)
    runs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        model = FusionModel(6, 4, method=method, n_latent=5, hidden_dim=8)
        history = train(
            model, data, weights=LossWeights(), epochs=48, patience=100, seed=seed, batches=batches
        )
        runs.append(embed(model, data)[0])
    assert len(history["total"]) == 48  # one step per batch, 12 passes over 4 batches
    first, last = (sum(history["total"][i : i + 4]) / 4 for i in (0, 44))
    assert last < first
    assert runs[0].shape == (256, 5) and torch.isfinite(runs[0]).all()
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_mini_batch_early_stopping_counts_whole_passes():
    coords, data = _grid_data()
    batches = spatial_batches(coords, batch_size=64)
    model = FusionModel(6, 4, method="gene", n_latent=5, hidden_dim=8)
    history = train(
        model,
        data,
        weights=LossWeights(),
        epochs=4000,
        lr=0.05,
        patience=5,
        seed=0,
        batches=batches,
    )
    steps = len(history["total"])
    assert steps < 4000 and steps % len(batches) == 0
