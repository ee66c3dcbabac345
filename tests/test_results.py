"""results.json (trainer/results.py): what `summarize` writes reads back the same, and a file from someone
else's run folder is checked: every wrong field is refused in one line, never with a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from trainer import results
from trainer.results import RESULTS, ResultsUnavailable


def fake_results(
    run_dir: Path, n: int = 10_000, wrong: int = 59, epoch: int = 4, seed: int = 0, kernel: int = 3
) -> dict:
    """Writes results.json for a made-up final model with `wrong` mistakes among `n` test images; returns
    its content. The log that goes with it has test_correct = n - wrong at epoch `epoch`."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    predicted = labels.copy()
    bad = rng.choice(n, wrong, replace=False)
    predicted[bad] = (labels[bad] + rng.integers(1, 10, wrong)) % 10
    probability = rng.uniform(0.2, 1.0, n)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    kernels = rng.normal(0, 0.3, (8, 1, kernel, kernel))
    content = results.summarize(labels, predicted, probability, images, "0", kernels, epoch)
    results.save(run_dir, content)
    content["_images"] = images  # for the tests' eyes only; not in the file
    return content


def log_for(content: dict) -> dict:
    n, correct = len(content["labels"]), int(np.trace(np.array(content["confusion"])))
    return {"epochs": [{"epoch": content["epoch"], "test_correct": correct, "test_acc": 100 * correct / n}]}


@pytest.fixture
def saved(tmp_path: Path) -> dict:
    return fake_results(tmp_path)


def test_summarize_save_load_round_trip(tmp_path: Path, saved: dict) -> None:
    got = results.load(tmp_path, log_for(saved))
    assert got.epoch == 4 and got.test_images == 10_000 and got.correct == 10_000 - 59
    assert got.confusion.sum() == 10_000 and got.confusion.tolist() == saved["confusion"]
    assert got.labels.tolist() == saved["labels"] and got.predicted.tolist() == saved["predicted"]
    assert got.probability.tolist() == saved["probability"]
    assert len(got.mistakes) == results.MISTAKES
    probs = [m.probability for m in got.mistakes]
    assert probs == sorted(probs, reverse=True)
    wrong = got.labels != got.predicted
    assert np.sort(got.probability[wrong])[::-1][: len(probs)].tolist() == probs
    for m in got.mistakes:
        assert m.true == got.labels[m.index] != m.predicted == got.predicted[m.index]
        assert m.pixels.dtype == np.uint8 and np.array_equal(m.pixels, saved["_images"][m.index])
    assert got.conv_name == "0" and got.kernels.tolist() == saved["first_conv"]["weights"]
    assert (tmp_path / RESULTS).stat().st_size < 400_000  # compact: about 0.2 MB for the 10,000 test images


def test_fewer_mistakes_than_the_gallery_holds(tmp_path: Path) -> None:
    content = fake_results(tmp_path, n=100, wrong=3)
    got = results.load(tmp_path, log_for(content))
    assert len(got.mistakes) == 3 and got.correct == 97


def test_a_missing_file_says_how_to_add_it(tmp_path: Path) -> None:
    with pytest.raises(ResultsUnavailable, match=r"no results\.json .*--resume"):
        results.load(tmp_path, {"epochs": [{"epoch": 1}]})


def _edit(path: Path, change) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def _swap_first_mistakes(c: dict) -> None:
    c["mistakes"][0], c["mistakes"][1] = c["mistakes"][1], c["mistakes"][0]


def _set(keys: tuple, value) -> callable:
    def change(c: dict) -> None:
        target = c
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


TAMPERED = {
    "not-json": (lambda p: p.write_text("{'format': 1"), "not valid JSON"),
    "too-big": (lambda p: p.write_bytes(b" " * (results.MAX_BYTES + 1)), "larger than"),
    "deeply-nested": (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "not valid JSON"),
    "nan": (lambda p: p.write_text(p.read_text().replace('"epoch":4', '"epoch":NaN')), "not valid JSON"),
    "not-utf8": (lambda p: p.write_bytes(b"\xff\xfe{}"), "not valid JSON"),
    "a-folder": (lambda p: (p.unlink(), p.mkdir()), "not a regular file"),
    "a-pipe": (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file"),
    "a-list": (lambda p: p.write_text("[1, 2]"), "a JSON object"),
    "format-2": (lambda p: _edit(p, _set(("format",), 2)), "format is not 1"),
    "format-true": (lambda p: _edit(p, _set(("format",), True)), "format is not 1"),
    "no-labels": (lambda p: _edit(p, lambda c: c.pop("labels")), "labels is missing"),
    "label-10": (lambda p: _edit(p, lambda c: c["labels"].__setitem__(5, 10)), "labels: expected digits"),
    "label-bool": (
        lambda p: _edit(p, lambda c: c["labels"].__setitem__(5, True)),
        "labels: expected integers",
    ),
    "label-huge": (
        lambda p: _edit(p, lambda c: c["labels"].__setitem__(5, 10**30)),
        "labels: expected integers",
    ),
    "label-text": (
        lambda p: _edit(p, lambda c: c["labels"].__setitem__(5, "=1+1")),
        "labels: expected integers",
    ),
    "short-predicted": (lambda p: _edit(p, lambda c: c["predicted"].pop()), "one entry per test image"),
    "probability-1.5": (lambda p: _edit(p, lambda c: c["probability"].__setitem__(3, 1.5)), r"in \[0, 1\]"),
    "infinite": (
        lambda p: p.write_text(p.read_text().replace('"probability":[', '"probability":[1e999,')),
        "finite",
    ),
    "negative-count": (lambda p: _edit(p, lambda c: c["confusion"][0].__setitem__(1, -1)), "counts >= 0"),
    "count-changed": (lambda p: _edit(p, lambda c: c["confusion"][0].__setitem__(1, 1000)), "the counts of"),
    "confusion-9-rows": (lambda p: _edit(p, lambda c: c["confusion"].pop()), "confusion: expected 10 items"),
    "ragged-confusion": (lambda p: _edit(p, lambda c: c["confusion"][2].pop()), "rectangular"),
    "pixel-256": (lambda p: _edit(p, lambda c: c["mistakes"][0]["pixels"][3].__setitem__(4, 256)), "0..255"),
    "pixel-rows": (lambda p: _edit(p, lambda c: c["mistakes"][0]["pixels"].pop()), r"pixels: expected 28"),
    "mistake-index": (lambda p: _edit(p, _set(("mistakes", 0, "index"), 10_000)), r"index: expected"),
    "mistake-right": (lambda p: _edit(p, _set(("mistakes", 0, "predicted"), None)), "predicted: expected"),
    "mistake-order": (lambda p: _edit(p, _swap_first_mistakes), "most confident first"),
    "mistake-probability": (lambda p: _edit(p, _set(("mistakes", 0, "probability"), 0.5)), "probability"),
    "mistake-not-a-dict": (
        lambda p: _edit(p, _set(("mistakes", 0), [1])),
        r"mistakes\[0\]: expected an object",
    ),
    "conv-name-formula": (
        lambda p: _edit(p, _set(("first_conv", "name"), '=HYPERLINK("http://x","y")')),
        "module name",
    ),
    "conv-shape": (
        lambda p: _edit(p, _set(("first_conv", "shape"), [8, 1, 5, 5])),
        "the shape of its weights",
    ),
    "conv-weights": (
        lambda p: _edit(p, lambda c: c["first_conv"]["weights"][0][0][0].__setitem__(0, 1e6)),
        "within",
    ),
    "conv-two-inputs": (
        lambda p: _edit(p, _set(("first_conv", "weights"), [[[[0.1]], [[0.2]]]])),
        "first_conv.weights: expected 1 items",
    ),
    "other-epoch": (lambda p: _edit(p, _set(("epoch",), 3)), "from epoch 3 but log.json ends at epoch 4"),
}


@pytest.mark.parametrize("case", TAMPERED, ids=list(TAMPERED))
def test_a_tampered_file_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    content = fake_results(tmp_path, n=500, wrong=30)
    log = log_for(content)
    tamper, message = TAMPERED[case]
    tamper(tmp_path / RESULTS)
    with pytest.raises(ResultsUnavailable, match=message) as refused:
        results.load(tmp_path, log)
    reason = str(refused.value)
    assert "\n" not in reason and len(reason) < 300 and reason.startswith(RESULTS)


def test_results_that_disagree_with_the_log_are_refused(tmp_path: Path) -> None:
    content = fake_results(tmp_path, n=500, wrong=30)
    log = log_for(content)
    log["epochs"][-1]["test_correct"] += 1
    with pytest.raises(
        ResultsUnavailable, match="470 correct test images, but log.json.s final epoch has 471"
    ):
        results.load(tmp_path, log)
    log["epochs"][-1]["test_correct"] = "470"
    with pytest.raises(ResultsUnavailable, match="final epoch has a str"):
        results.load(tmp_path, log)
    log = log_for(content)
    log["epochs"][-1]["test_acc"] = 99.0
    with pytest.raises(ResultsUnavailable, match="500 test images do not give"):
        results.load(tmp_path, log)
