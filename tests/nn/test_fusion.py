"""Tests of the fusion layers on hand-made tensors."""

from __future__ import annotations

import torch

from spatialfuse.nn._fusion import CrossAttentionFusion, GatedFusion, TensorFusion
from spatialfuse.nn._model import FusionInputs

N, DIM = 12, 8


def _path_graph(n: int) -> torch.Tensor:
    src = torch.arange(n - 1)
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


def _inputs(usable: torch.Tensor) -> FusionInputs:
    return FusionInputs.from_graph(torch.randn(N, 3), torch.randn(N, 2), _path_graph(N), usable)


def test_every_layer_gives_one_embedding_per_spot_and_weights_summing_to_one():
    torch.manual_seed(0)
    usable = torch.ones(N, dtype=torch.bool)
    usable[3] = False
    data = _inputs(usable)
    h_g, h_i = torch.randn(N, DIM), torch.randn(N, DIM)
    for layer in (CrossAttentionFusion(DIM), TensorFusion(DIM, rank=3), GatedFusion(DIM)):
        out = layer(h_g, h_i, data.edge_index, usable)
        assert out.z.shape == (N, DIM) and torch.isfinite(out.z).all()
        assert torch.allclose(out.weights.sum(dim=1), torch.ones(N))
        assert out.weights[3, 1] == 0  # no tile: image weight 0


def test_gated_weights_follow_inverse_predicted_variance():
    torch.manual_seed(0)
    layer = GatedFusion(DIM)
    usable = torch.ones(N, dtype=torch.bool)
    out = layer(torch.randn(N, DIM), torch.randn(N, DIM), _path_graph(N), usable)
    expected = torch.softmax(-out.log_var, dim=1)
    assert torch.allclose(out.weights, expected)
    # the weights are not trained through the fused embedding, only through the log-variance
    out.z.sum().backward()
    assert all(p.grad is None for p in layer.log_var_gene.parameters())


def test_cross_attention_only_mixes_graph_neighbours():
    torch.manual_seed(0)
    layer = CrossAttentionFusion(DIM)
    usable = torch.ones(N, dtype=torch.bool)
    edge_index = FusionInputs.from_graph(
        torch.zeros(N, 1), torch.zeros(N, 1), _path_graph(N), usable
    ).edge_index
    h_g, h_i = torch.randn(N, DIM), torch.randn(N, DIM)
    base = layer(h_g, h_i, edge_index, usable).z
    changed = h_i.clone()
    changed[0] += 5.0  # spot 0 only reaches spots 0 and 1 in one step
    moved = (layer(h_g, changed, edge_index, usable).z - base).abs().sum(dim=1)
    assert moved[:2].min() > 0 and moved[3:].max() == 0


def test_tensor_fusion_ignores_image_of_spots_without_tile():
    torch.manual_seed(0)
    layer = TensorFusion(DIM, rank=2)
    usable = torch.zeros(N, dtype=torch.bool)
    h_g = torch.randn(N, DIM)
    a = layer(h_g, torch.randn(N, DIM), _path_graph(N), usable).z
    b = layer(h_g, torch.randn(N, DIM), _path_graph(N), usable).z
    assert torch.allclose(a, b)


def test_gated_spots_without_tile_take_no_image_evidence_but_share_the_space():
    torch.manual_seed(0)
    layer = GatedFusion(DIM)
    usable = torch.ones(N, dtype=torch.bool)
    usable[:4] = False
    h_g, h_i = torch.randn(N, DIM), torch.randn(N, DIM)
    out = layer(h_g, h_i, _path_graph(N), usable)
    other = h_i.clone()
    other[:4] = 100 * torch.randn(4, DIM)  # whatever the image branch says there is ignored
    assert torch.equal(layer(h_g, other, _path_graph(N), usable).z, out.z)
    assert (out.weights[:4, 1] == 0).all()
    # mixed like the spots with a tile (imputed image embedding), not left at the gene one
    e_g = torch.nn.functional.layer_norm(layer.map_gene(h_g), (DIM,))
    assert not torch.allclose(out.z[:4], e_g[:4])


def test_gated_embedding_is_invariant_to_the_scale_of_the_modality_maps():
    torch.manual_seed(0)
    layer = GatedFusion(DIM)
    usable = torch.ones(N, dtype=torch.bool)
    h_g, h_i = torch.randn(N, DIM), torch.randn(N, DIM)
    before = layer(h_g, h_i, _path_graph(N), usable).z
    with torch.no_grad():  # a map cannot scale a small image weight back up
        layer.map_image.weight.mul_(10.0)
        layer.map_image.bias.mul_(10.0)
    assert torch.allclose(layer(h_g, h_i, _path_graph(N), usable).z, before, atol=1e-3)
