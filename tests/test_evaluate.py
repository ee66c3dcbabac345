"""The final evaluation (trainer/evaluate.py): a finished run, fresh or resumed, leaves a results.json whose
confusion matrix agrees with the final epoch, whose mistakes hold the right test images' pixels, and whose
kernels are the first convolution's of every preset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import small, synthetic

from trainer import augment, config, evaluate, models, results, train


@pytest.mark.parametrize(
    ("model", "name", "shape"),
    [
        ("default", "0", (8, 1, 3, 3)),
        ("tiny", "0", (8, 1, 3, 3)),
        ("seed001", "conv1", (8, 1, 5, 5)),
        ("seed002", "0", (8, 1, 3, 3)),
    ],
)
def test_first_conv_of_every_preset(model: str, name: str, shape: tuple) -> None:
    found, conv = evaluate.first_conv(models.build(model))
    assert (found, tuple(conv.weight.shape)) == (name, shape)


def test_pixels_undo_the_normalization_exactly() -> None:
    x = torch.arange(256, dtype=torch.uint8).repeat(4)[: 28 * 28].reshape(1, 28, 28)
    t = train.to_tensors(x, torch.zeros(1), x, torch.zeros(1), torch.device("cpu"))
    assert np.array_equal(evaluate.pixels(t.test_x), x.numpy())


def test_a_finished_run_saves_results_that_match_its_log(tmp_path: Path) -> None:
    train_x, train_y, test_x, test_y = synthetic()
    test_y = test_y.clone()
    test_y[:6] = (test_y[:6] + 1) % 10  # wrong labels: mistakes a model sure of the digit makes confidently
    data = train.to_tensors(train_x, train_y, test_x, test_y, torch.device("cpu"))
    run_dir = train.fit(data, small(), model_name="tiny", seed=3, out=tmp_path)

    log = json.loads((run_dir / "log.json").read_text())
    got = results.load(run_dir, log)
    last = log["epochs"][-1]
    assert got.epoch == last["epoch"] == 3
    assert got.confusion.sum() == len(test_y) and got.correct == last["test_correct"] < len(test_y)
    assert got.labels.tolist() == test_y.tolist()
    assert 0 < len(got.mistakes) == min(results.MISTAKES, len(test_y) - got.correct)
    for m in got.mistakes:
        assert np.array_equal(m.pixels, test_x[m.index].numpy())
    model = models.build("tiny")
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    assert np.array_equal(got.kernels, model[0].weight.detach().double().numpy())

    # A run folder from before results.json existed gets one by resuming the finished run: same bytes.
    saved = (run_dir / results.RESULTS).read_bytes()
    (run_dir / results.RESULTS).unlink()
    assert train.fit(data, small(), resume=run_dir) == run_dir
    assert (run_dir / results.RESULTS).read_bytes() == saved


def test_the_four_shifted_copies_move_the_image_one_way_each_and_fill_with_the_background() -> None:
    x = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(2, 1, 5, 6)
    down, up, right, left = augment.shifted(x, 2, fill=-1.0)
    assert all(view.shape == x.shape for view in (down, up, right, left))
    assert torch.equal(down[..., 2:, :], x[..., :-2, :]) and (down[..., :2, :] == -1).all()
    assert torch.equal(up[..., :-2, :], x[..., 2:, :]) and (up[..., -2:, :] == -1).all()
    assert torch.equal(right[..., :, 2:], x[..., :, :-2]) and (right[..., :, :2] == -1).all()
    assert torch.equal(left[..., :, :-2], x[..., :, 2:]) and (left[..., :, -2:] == -1).all()


def test_log_probs_with_shifts_is_the_renormalised_mean_over_five_views() -> None:
    torch.manual_seed(0)
    model = models.build("tiny").eval()
    x = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        plain, answer = evaluate.log_probs(model, x, 0)
        assert answer is plain and torch.equal(plain, model(x))
        plain, answer = evaluate.log_probs(model, x, 1)
        views = [x, *augment.shifted(x, 1, config.BACKGROUND)]
        mean = torch.stack([model(v) for v in views]).mean(0)
    assert plain.exp().amax(1).max() < config.TEST_SHIFT_BELOW  # an untrained net is unsure of every image
    assert torch.equal(plain, model(x))
    assert torch.allclose(answer, mean - mean.logsumexp(1, keepdim=True), atol=1e-6)
    assert torch.allclose(answer.exp().sum(1), torch.ones(6))


class Linear(torch.nn.Module):
    """Log-probabilities linear in the image: a sharper image makes a surer answer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(28 * 28, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.fc(x.flatten(1)), 1)


def test_the_shifts_answer_only_where_the_net_is_unsure_of_the_image_alone() -> None:
    """Images the net gives config.TEST_SHIFT_BELOW or more keep the image alone's answer; the others take
    the mean over the five views; either way an image's answer does not depend on the batch it came in."""
    torch.manual_seed(0)
    model = Linear().eval()
    x = torch.randn(8, 1, 28, 28) * torch.tensor([0.01, 10.0] * 4)[:, None, None, None]
    with torch.no_grad():
        plain, answer = evaluate.log_probs(model, x, 1)
        views = [x, *augment.shifted(x, 1, config.BACKGROUND)]
        mean = torch.stack([model(v) for v in views]).mean(0).log_softmax(1)
        one_at_a_time = torch.cat([evaluate.log_probs(model, x[i : i + 1], 1)[1] for i in range(8)])
    sure = plain.exp().amax(1) >= config.TEST_SHIFT_BELOW
    assert sure.tolist() == [False, True] * 4  # the sharp images are sure, the faint ones not
    assert torch.allclose(answer[sure], plain[sure], atol=1e-6)
    assert torch.allclose(answer[~sure], mean[~sure], atol=1e-6)
    assert not torch.allclose(mean[sure], plain[sure], atol=1e-3)  # the shifts would have moved them
    assert torch.allclose(one_at_a_time, answer, atol=1e-6)
