"""trainer/layers.py computes what torch.nn does: the same values, gradients and running statistics."""

from __future__ import annotations

import pytest
import torch

from trainer import layers


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(4, 3, 24, 24),
        lambda: torch.relu(torch.randn(4, 3, 24, 24)),  # ties at zero, as after a ReLU
        lambda: torch.randint(0, 3, (4, 3, 8, 10)).float(),  # ties everywhere, a non-square map
    ],
)
def test_fast_max_pool_equals_max_pool2d_value_and_gradient(make) -> None:
    x = make()
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    grad = torch.randn(4, x.shape[1], x.shape[2] // 2, x.shape[3] // 2)
    fast, plain = layers.max_pool2x2(a), torch.nn.functional.max_pool2d(b, 2)
    fast.backward(grad)
    plain.backward(grad)
    assert torch.equal(fast, plain)
    assert torch.equal(a.grad, b.grad)  # the same element of each window takes the gradient


def test_max_pool_module_keeps_other_shapes_on_the_plain_path() -> None:
    x = torch.randn(2, 3, 9, 9)  # odd: the fast path does not apply
    torch.testing.assert_close(layers.MaxPool2d(2)(x), torch.nn.functional.max_pool2d(x, 2))
    torch.testing.assert_close(layers.MaxPool2d(3, 1)(x), torch.nn.functional.max_pool2d(x, 3, 1))


def test_fast_batch_norm_trains_like_batch_norm2d() -> None:
    torch.manual_seed(0)
    ours, theirs = layers.BatchNorm2d(6), torch.nn.BatchNorm2d(6)
    with torch.no_grad():
        theirs.weight.normal_(), theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    for _ in range(3):  # the running statistics follow over steps
        x = torch.randn(16, 6, 10, 10) * 3 + 5  # a large mean: the variance must not cancel
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        grad = torch.randn_like(x)
        ours(a).backward(grad)
        theirs(b).backward(grad)
        torch.testing.assert_close(ours(x), theirs(x))
        torch.testing.assert_close(a.grad, b.grad)
    for name, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[name], value)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-4, atol=1e-4)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_dropout_keeps_one_minus_p_scaled_and_is_the_identity_in_eval() -> None:
    torch.manual_seed(0)
    drop, x = layers.Dropout(0.25), torch.ones(200, 50, 10)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.75))
    assert torch.equal(drop.eval()(x), x)


def test_dropout_mask_rounds_p_to_sixteen_bits_and_keeps_the_expectation() -> None:
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    keep, scale = layers.keep_mask(torch.Size([400, 1000]), 0.1, cpu)
    assert scale == 65536 / (65536 - round(0.1 * 65536))
    assert abs((~keep).float().mean().item() - 0.1) < 0.002  # 400,000 draws: ~0.0005 of noise
    assert abs(keep.float().mean().item() * scale - 1) < 0.005
    assert not layers.keep_mask(torch.Size([3, 5]), 0.999999, cpu)[0].any()
    keep_all, one = layers.keep_mask(torch.Size([3, 5]), 1e-7, cpu)
    assert keep_all.all() and one == 1.0
    torch.manual_seed(1)
    first = layers.keep_mask(torch.Size([7]), 0.5, cpu)[0]
    torch.manual_seed(1)
    assert torch.equal(first, layers.keep_mask(torch.Size([7]), 0.5, cpu)[0])  # the seeded global generator


def test_dropout_scales_bfloat16_once() -> None:
    torch.manual_seed(0)
    x = torch.full((64, 64), 0.3, dtype=torch.bfloat16)
    y = layers.Dropout(0.1)(x)
    kept = y[y != 0]
    scale = 65536 / (65536 - round(0.1 * 65536))
    once = (torch.tensor(0.3, dtype=torch.bfloat16).float() * scale).bfloat16()  # 0.3340, not 0.3320
    assert y.dtype == torch.bfloat16 and len(kept) > 0 and (kept == once).all()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("padding", [0, 1])
def test_image_conv_has_conv2d_values_and_gradients(bias: bool, padding: int) -> None:
    torch.manual_seed(0)
    ours = layers.Conv2d(1, 8, 3, padding=padding, bias=bias)
    plain = torch.nn.Conv2d(1, 8, 3, padding=padding, bias=bias)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(16, 1, 28, 28)
    y = ours(x)
    assert y.grad_fn is not None and "ImageConv" in type(y.grad_fn).__name__  # the fast path ran
    grad = torch.randn_like(y)
    y.backward(grad)
    exact = plain.double()  # the reference: float64, where the order of the sums does not show
    exact(x.double()).backward(grad.double())
    torch.testing.assert_close(y, plain.float()(x))

    def near(ours: torch.Tensor, reference: torch.Tensor) -> None:  # float32 sums of 10,816 products
        assert (ours.double() - reference).abs().max() <= 1e-5 * reference.abs().max()

    near(ours.weight.grad, exact.weight.grad)
    if bias:
        near(ours.bias.grad, exact.bias.grad)
    wants_grad = x.clone().requires_grad_()  # an input that needs its gradient takes nn.Conv2d's path
    ours(wants_grad).sum().backward()
    assert wants_grad.grad is not None


def test_first_conv_with_a_bias_stays_float32_under_autocast() -> None:
    x = torch.randn(2, 1, 28, 28)
    first, later = layers.Conv2d(1, 4, 3), layers.Conv2d(4, 4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert first(x).dtype == torch.float32
        assert later(torch.randn(2, 4, 26, 26)).dtype == torch.bfloat16
    torch.testing.assert_close(first(x), torch.nn.functional.conv2d(x, first.weight, first.bias))
