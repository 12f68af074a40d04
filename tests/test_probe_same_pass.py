"""Masks, logits and Grad-CAM of a probe come from one and the same pass.

The reference: a deep copy of the model whose torchvision blocks replay the masks the probe
*returned* (as plain modules in the block's own forward), and a textbook hook-based
Grad-CAM with a full ``.backward()`` on it. If the probe showed masks from another pass, or
computed its logits or CAM elsewhere, the reference would disagree.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dropcore.probe import ProbeResult, ProbeSettings, probe

SETTINGS = {
    "dropout": ProbeSettings(method="dropout", p=0.3),
    "vanilla_dropout": ProbeSettings(method="dropout", p=0.3, inverted=False),
    "spatial_dropout": ProbeSettings(method="spatial_dropout", p=0.3),
    "drop_block": ProbeSettings(method="drop_block", p=0.3, block_size=3),
    "drop_block_shared": ProbeSettings(p=0.3, block_size=2, per_channel=False, where="skip"),
    "drop_path": ProbeSettings(method="drop_path", p=0.5, stages=("layer2", "layer3", "layer4")),
    "drop_connect": ProbeSettings(method="drop_connect", p=0.2, stages=("layer3",)),
    "cam_before_sites": ProbeSettings(
        method="dropout", p=0.3, stages=("layer4",), cam_layer="layer3"
    ),
}


class Replay(nn.Module):
    """Multiplies by a fixed keep mask and scale."""

    def __init__(self, mask: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.register_buffer("factor", mask.float() * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def _scale(settings: ProbeSettings, mask: torch.Tensor, p: float) -> float:
    if settings.method == "drop_block":
        kept = float(mask.float().sum())
        return mask.numel() / kept if kept else 0.0
    if settings.method == "dropout" and not settings.inverted:
        return 1.0
    return 1.0 / (1.0 - p)


def replay_model(model: nn.Module, result: ProbeResult) -> nn.Module:
    """A copy of ``model`` that applies the first draw's returned masks in its own forward."""
    settings = result.settings
    replica = copy.deepcopy(model).eval()
    for site in result.sites:
        stage, index, path = site.name.split(".")
        block = getattr(replica, stage)[int(index)]
        if settings.method == "drop_connect":
            conv = block.downsample[0] if path == "downsample" else getattr(block, path)
            dropped = conv.weight.detach() * site.keep_mask.float() / (1.0 - site.target_p)
            conv.weight = nn.Parameter(dropped)
            continue
        fix = Replay(site.keep_mask, _scale(settings, site.keep_mask, site.target_p))
        if path == "branch":  # the branch ends with the last BN, before `out += identity`
            last_bn = "bn3" if hasattr(block, "bn3") else "bn2"
            setattr(block, last_bn, nn.Sequential(getattr(block, last_bn), fix))
        else:  # torchvision computes the shortcut as `identity = self.downsample(x)`
            down = block.downsample
            block.downsample = fix if down is None else nn.Sequential(down, fix)
    return replica


def textbook_grad_cam(model: nn.Module, x: torch.Tensor, layer: str, target: int) -> torch.Tensor:
    """Grad-CAM with a forward hook, a tensor hook and a full backward (to the input: the
    parameters are frozen)."""
    store: dict[str, torch.Tensor] = {}

    def keep(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        store["act"] = output
        output.register_hook(lambda g: store.__setitem__("grad", g))

    handle = getattr(model, layer).register_forward_hook(keep)
    try:
        model(x.clone().requires_grad_())[0, target].backward()
    finally:
        handle.remove()
    act, grad = store["act"][0].detach(), store["grad"][0]
    cam = torch.relu((grad.mean(dim=(1, 2))[:, None, None] * act).sum(0))
    cam = cam - cam.min()
    return cam / cam.max() if cam.max() > 0 else cam


@pytest.mark.parametrize("name", SETTINGS)
def test_returned_masks_reproduce_logits_and_cams(net: nn.Module, name: str) -> None:
    settings = SETTINGS[name]
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(4))
    result = probe(net, x, settings, seed=11, samples=1)
    assert any(s.measured_drop > 0 for s in result.sites)
    replica, plain = replay_model(net, result), copy.deepcopy(net)
    with torch.no_grad():
        torch.testing.assert_close(result.logits[0], replica(x)[0], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(result.baseline_logits, plain(x)[0], rtol=1e-4, atol=1e-4)
    layer = settings.cam_layer
    expected = textbook_grad_cam(replica, x, layer, result.target)
    torch.testing.assert_close(result.cams[0], expected, rtol=1e-4, atol=1e-4)
    baseline = textbook_grad_cam(plain, x, layer, result.target)
    torch.testing.assert_close(result.cam_baseline, baseline, rtol=1e-4, atol=1e-4)


def test_torchcam_agrees_on_the_same_pass(net: nn.Module) -> None:
    methods = pytest.importorskip("torchcam.methods")
    settings = SETTINGS["drop_block"]
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))
    result = probe(net, x, settings, seed=3, samples=1)
    replica = replay_model(net, result)
    extractor = methods.GradCAM(replica, target_layer="layer4")
    try:
        cams = extractor(result.target, replica(x.clone().requires_grad_()))
    finally:
        extractor.remove_hooks()
    torch.testing.assert_close(result.cams[0], cams[0][0], rtol=1e-4, atol=1e-4)
