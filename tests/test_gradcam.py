"""Grad-CAM: the formula, its normalisation, and that it finds the evidence on a CNN
trained here to say where a bright patch is."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from dropcore.probe import ProbeSettings, grad_cam, normalize_maps, probe


def test_grad_cam_weights_channels_by_mean_gradient() -> None:
    act = torch.zeros(1, 2, 2, 2)
    act[0, 0] = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    act[0, 1] = torch.tensor([[0.0, 2.0], [0.0, 1.0]])
    grad = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), -1.0)]).unsqueeze(0)
    # 0.5 * A0 - 1 * A1 = [[0.5, -2], [0, -1]] -> relu -> [[0.5, 0], [0, 0]] -> [0, 1].
    expected = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    torch.testing.assert_close(grad_cam(act, grad), expected)


def test_normalize_maps_scales_each_map_and_zeroes_flat_ones() -> None:
    maps = torch.stack([torch.tensor([[2.0, 4.0], [6.0, 10.0]]), torch.full((2, 2), 3.0)])
    out = normalize_maps(maps)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2))


def test_grad_cam_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\)"):
        grad_cam(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))


def _pointwise(block: BasicBlock) -> BasicBlock:
    """Make a block's convs 1x1, so that it does not widen the receptive field."""
    for name in ("conv1", "conv2"):
        old = getattr(block, name)
        pointwise = nn.Conv2d(old.in_channels, old.out_channels, 1, old.stride, bias=False)
        setattr(block, name, pointwise)
    return block


class TinyResNet(nn.Module):
    """A torchvision-shaped ResNet small enough to train in a test (32 px -> 8x8 layer4).

    layer3 and layer4 use 1x1 convs: the receptive field stays ~13 px, so the evidence for
    a class has to sit near the patch (with a field covering the whole image, a net may
    just as well put it anywhere, and Grad-CAM would faithfully show that).
    """

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(1, 1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, _down(8, 16)))
        self.layer3 = nn.Sequential(_pointwise(BasicBlock(16, 32, 2, _down(16, 32))))
        self.layer4 = nn.Sequential(_pointwise(BasicBlock(32, 32)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


SIZE, PATCH = 32, 8


def _blank(n: int, gen: torch.Generator) -> torch.Tensor:
    """Noise images; channels 1 and 2 are x and y coordinate ramps (CoordConv): without
    them a net with global average pooling can only infer position from border effects."""
    images = torch.randn(n, 3, SIZE, SIZE, generator=gen) * 0.2
    ramp = torch.linspace(-1, 1, SIZE)
    images[:, 1], images[:, 2] = ramp[None, None, :], ramp[None, :, None]
    return images


def one_patch(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Training data: one bright 8x8 patch anywhere; class = the quadrant holding it."""
    images = _blank(n, gen)
    labels = torch.randint(0, 4, (n,), generator=gen)
    half = SIZE // 2
    corners = torch.randint(0, half - PATCH + 1, (n, 2), generator=gen)
    corners += torch.stack([labels // 2, labels % 2], dim=1) * half
    for image, (top, left) in zip(images, corners.tolist(), strict=True):
        image[0, top : top + PATCH, left : left + PATCH] += 1.5
    return images, labels


def two_patches(
    n: int, gen: torch.Generator
) -> tuple[torch.Tensor, list[list[tuple[int, int, int]]]]:
    """Test data: two equally bright patches in two quadrants, >= 10 px apart.

    Returns:
        images Tensor[n, 3, 32, 32] and per image ``[(class, top, left), ...]`` per patch.
    """
    images = _blank(n, gen)
    patches: list[list[tuple[int, int, int]]] = []
    for image in images:
        found = []
        for quadrant in torch.randperm(4, generator=gen)[:2].tolist():
            q_row, q_col = divmod(quadrant, 2)
            d_row, d_col = torch.randint(0, 4, (2,), generator=gen).tolist()
            # Keep patches towards the outer corners so neighbours stay apart.
            top = 16 + 8 - d_row if q_row else d_row
            left = 16 + 8 - d_col if q_col else d_col
            image[0, top : top + PATCH, left : left + PATCH] += 1.5
            found.append((quadrant, top, left))
        patches.append(found)
    return images, patches


def test_cam_peak_lands_on_the_patch_of_the_explained_class() -> None:
    """Trained on one patch per image, shown two: the CAM of each patch's class must peak
    on that patch. A map that ignores the gradients (activations only) cannot tell the two
    equally bright patches apart and lands on the right one about half the time."""
    gen = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net trains faster without thread hand-offs
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = TinyResNet()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(80):
            images, labels = one_patch(32, gen)
            loss = nn.functional.cross_entropy(net(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval().requires_grad_(False)
        images, labels = one_patch(64, gen)
        with torch.no_grad():
            assert (net(images).argmax(1) == labels).float().mean() >= 0.9
        images, patches = two_patches(32, gen)
        hits = 0
        for image, found in zip(images, patches, strict=True):
            for label, top, left in found:
                cam = probe(net, image, ProbeSettings(method="none"), target=label).cam_baseline
                row, col = divmod(int(cam.argmax()), cam.shape[1])
                cell = SIZE // cam.shape[0]  # a CAM cell covers cell x cell pixels
                # The peak cell touches the patch or the ring of cells around it.
                hits += (top - 2 * cell < row * cell < top + PATCH + cell) and (
                    left - 2 * cell < col * cell < left + PATCH + cell
                )
    finally:
        torch.set_num_threads(threads)
    assert hits >= 0.9 * 2 * len(patches)
