"""The four presets: their sizes, the documents' tables layer for layer, and the batched augmentation."""

from __future__ import annotations

import pytest
import torch

from trainer import augment, models, train

# The documents' torchinfo rows: (layer type, output shape, parameters).
SEED001 = [
    ("Conv2d", [8, 24, 24], 208),
    ("BatchNorm2d", [8, 24, 24], 16),
    ("Conv2d", [16, 20, 20], 3216),
    ("BatchNorm2d", [16, 20, 20], 32),
    ("Conv2d", [32, 6, 6], 12832),
    ("BatchNorm2d", [32, 6, 6], 64),
    ("Dropout2d", [32, 6, 6], 0),
    ("Conv2d", [24, 6, 6], 792),
    ("AvgPool2d", [24, 1, 1], 0),
    ("Linear", [10], 250),
]
SEED002 = [
    ("Conv2d", [8, 26, 26], 80),
    ("ReLU", [8, 26, 26], 0),
    ("BatchNorm2d", [8, 26, 26], 16),
    ("Conv2d", [16, 24, 24], 1168),
    ("ReLU", [16, 24, 24], 0),
    ("BatchNorm2d", [16, 24, 24], 32),
    ("MaxPool2d", [16, 12, 12], 0),
    ("ReLU", [16, 12, 12], 0),
    ("Dropout", [16, 12, 12], 0),
    ("Conv2d", [32, 10, 10], 4640),
    ("ReLU", [32, 10, 10], 0),
    ("BatchNorm2d", [32, 10, 10], 64),
    ("Conv2d", [32, 8, 8], 9248),
    ("ReLU", [32, 8, 8], 0),
    ("BatchNorm2d", [32, 8, 8], 64),
    ("MaxPool2d", [32, 4, 4], 0),
    ("ReLU", [32, 4, 4], 0),
    ("Dropout", [32, 4, 4], 0),
    ("Conv2d", [10, 2, 2], 2890),
    ("BatchNorm2d", [10, 2, 2], 20),
    ("Dropout", [10, 2, 2], 0),
    ("AvgPool2d", [10, 1, 1], 0),
]


@pytest.mark.parametrize(("name", "total"), [("seed001", 17_410), ("seed002", 18_222)])
def test_documents_networks_have_their_exact_parameter_counts(name: str, total: int) -> None:
    assert models.param_count(models.build(name)) == total


@pytest.mark.parametrize(("name", "limit"), [("default", 20_000), ("tiny", 8_000)])
def test_our_networks_stay_under_their_budgets(name: str, limit: int) -> None:
    assert 0 < models.param_count(models.build(name)) < limit


@pytest.mark.parametrize(("name", "rows"), [("seed001", SEED001), ("seed002", SEED002)])
def test_documents_networks_reproduce_their_torchinfo_tables(name: str, rows: list) -> None:
    table = train.layer_table(train.summary(models.build(name)))
    got = [(r["layer"].split(":")[0], r["output_shape"][1:], r["params"]) for r in table]
    assert got == rows
    assert all(r["output_shape"][0] == -1 for r in table)


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_maps_a_batch_to_log_probabilities(name: str) -> None:
    model = models.build(name).eval()
    with torch.no_grad():
        out = model(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(5))


def test_summary_prints_the_total_parameter_line(capsys: pytest.CaptureFixture[str]) -> None:
    from trainer import cli

    assert cli.main(["summary", "--model", "seed002"]) == 0
    assert "Total params: 18,222" in capsys.readouterr().out


def _digits(n: int = 16) -> torch.Tensor:
    """A batch of identical 'images' on the normalized background, so any difference comes from augmenting."""
    background = -0.1307 / 0.3081
    x = torch.full((n, 1, 28, 28), background)
    x[:, :, 8:20, 12:16] = 2.8  # a bar, like a "1"
    return x


@pytest.mark.parametrize("kind", ["affine", "shift"])
def test_augmentation_keeps_shape_and_range_and_differs_per_sample(kind: str) -> None:
    x, background = _digits(), -0.1307 / 0.3081
    g = torch.Generator().manual_seed(0)
    y = augment.affine(x, 8.0, 2.0, g, background) if kind == "affine" else augment.shift(x, 2, g, background)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= background - 1e-5 and y.max() <= 2.8 + 1e-5
    # The border stays background: nothing wraps around, the fill matches the normalized zero.
    torch.testing.assert_close(y[:, :, 0, :], torch.full_like(y[:, :, 0, :], background))
    distinct = {tuple(img.flatten().round(decimals=4).tolist()) for img in y}
    assert len(distinct) > len(y) // 2
    assert not torch.equal(y, x)


def test_augmentation_is_reproducible_from_its_generator() -> None:
    x = _digits()
    a = augment.affine(x, 8.0, 2.0, torch.Generator().manual_seed(3), 0.0)
    b = augment.affine(x, 8.0, 2.0, torch.Generator().manual_seed(3), 0.0)
    assert torch.equal(a, b)


def test_zero_augmentation_is_the_identity() -> None:
    x = torch.randn(4, 1, 28, 28)
    y = augment.affine(x, 0.0, 0.0, torch.Generator().manual_seed(0), 0.0)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)
