"""The forecast head's prediction intervals (loss: quantile) and its single target channel (features MS)."""

from __future__ import annotations

import pytest
import torch

import seqkit as sk
from seqkit.blocks import build
from seqkit.blocks.forecast import Forecast
from seqkit.blocks.quantile import Coverage, Pinball, central_intervals, pinball_loss
from seqkit.errors import SeqkitError
from seqkit.model import build_model

from helpers import one_line

LEVELS = [0.1, 0.5, 0.9]
SPEC = {"frontend": {"name": "segmenter", "seg_len": 24, "dim": 16},
        "backend": {"name": "segrnn", "hidden": 16}, "head": {"name": "forecast", "loss": "quantile"}}


def model(head: dict | None = None, **dims):
    spec = {**SPEC, "head": head or SPEC["head"]}
    return build_model(spec, **{"in_dim": 7, "channels": 7, "seq_len": 96, "pred_len": 24, **dims})


def test_pinball_loss_by_hand():
    predictions = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0]])
    targets = torch.tensor([1.5, 0.0])
    # row 1, errors t - y = 1.5, 0.5, -0.5: 0.1 * 1.5 = 0.15, 0.5 * 0.5 = 0.25, (0.9 - 1) * -0.5 = 0.05
    # row 2, errors -1, -1, -3: (0.1 - 1) * -1 = 0.9, (0.5 - 1) * -1 = 0.5, (0.9 - 1) * -3 = 0.3
    expected = (0.15 + 0.25 + 0.05 + 0.9 + 0.5 + 0.3) / 6
    assert pinball_loss(predictions, targets, LEVELS).item() == pytest.approx(expected)
    metric = Pinball(LEVELS)  # the same, batch by batch
    metric.update(predictions[:1], targets[:1])
    metric.update(predictions[1:], targets[1:])
    assert metric.compute().item() == pytest.approx(expected)


def test_coverage_by_hand_through_the_metric_and_the_head():
    interval = torch.tensor([0.0, 1.0, 2.0]).expand(5, 3)  # [0, 2] around 1, five times
    targets = torch.tensor([-1.0, 0.0, 1.0, 2.0, 2.5])  # 0, 1 and 2 inside (the ends included)
    coverage = Coverage(0, 2)
    coverage.update(interval, targets)
    assert coverage.compute().item() == pytest.approx(0.6)

    head = Forecast(4, pred_len=5, channels=1, loss="quantile")
    metrics = head.metrics()
    assert set(metrics) == {"mse", "mae", "pinball", "coverage_80"}
    y, batch = interval.reshape(1, 5, 1, 3), {"targets": targets.reshape(1, 5, 1)}
    head.update(metrics, y, torch.tensor([5]), batch)
    values = metrics.compute()
    assert values["coverage_80"].item() == pytest.approx(0.6)
    # mse and mae of the median (1 everywhere): errors -2, -1, 0, 1, 1.5
    assert values["mse"].item() == pytest.approx((4 + 1 + 0 + 1 + 2.25) / 5)
    assert values["mae"].item() == pytest.approx((2 + 1 + 0 + 1 + 1.5) / 5)
    assert values["pinball"].item() == pytest.approx(pinball_loss(interval, targets, LEVELS).item())


def test_two_intervals_with_equal_first_counts_are_kept_apart():
    """Two coverages equal after the first batch still count on their own afterwards."""
    levels = [0.05, 0.1, 0.5, 0.9, 0.95]
    assert central_intervals(levels) == {90: (0, 4), 80: (1, 3)}
    head = Forecast(4, pred_len=5, channels=1, loss="quantile", quantiles=levels)
    metrics = head.metrics()
    y = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).expand(1, 5, 1, 5)
    head.update(metrics, y, None, {"targets": torch.tensor([-3.0, 0.0, 0.5, 1.0, 3.0]).reshape(1, 5, 1)})
    head.update(metrics, y, None, {"targets": torch.tensor([-2.0, -1.5, 0.0, 1.5, 2.0]).reshape(1, 5, 1)})
    values = metrics.compute()  # 3 of 5 in both, then 5 and 1 of 5
    assert values["coverage_90"].item() == pytest.approx(0.8)
    assert values["coverage_80"].item() == pytest.approx(0.4)


@pytest.mark.parametrize("per_channel", [True, False])
def test_quantiles_never_cross_even_with_random_weights(per_channel):
    torch.manual_seed(0)
    head = Forecast(8, pred_len=24, channels=3, out_steps=2, per_channel=per_channel, norm="revin",
                    loss="quantile", quantiles=[0.9, 0.02, 0.5, 0.25, 0.75])
    assert head.quantiles == [0.02, 0.25, 0.5, 0.75, 0.9]
    torch.nn.init.normal_(head.project.weight, std=3.0)
    rows = 2 * 3 if per_channel else 2
    y, lengths = head(torch.randn(rows, 2, 8), torch.full((rows,), 2), 5 * torch.randn(2, 48, 3), None)
    assert y.shape == (2, 24, 3, 5) and lengths.tolist() == [24, 24]
    assert (y.diff(dim=-1) >= 0).all()
    # the sort rearranges, it does not clip: levels given in reverse come out in order
    head = Forecast(8, pred_len=2, channels=1, loss="quantile")
    torch.nn.init.zeros_(head.project.weight)
    head.project.bias.data = torch.tensor([1.0, 0.0, -1.0, 5.0, 4.0, 3.0])  # per step: Q values reversed
    y, _ = head(torch.randn(1, 3, 8), torch.tensor([3]), torch.zeros(1, 3, 1), None)
    assert y.flatten().tolist() == [-1.0, 0.0, 1.0, 3.0, 4.0, 5.0]
    assert head.point(y).flatten().tolist() == [0.0, 4.0]


def test_a_few_adam_steps_lower_the_pinball_loss_on_etth1(etth1):
    torch.manual_seed(0)
    data = sk.SeriesData(path=str(etth1), seq_len=96, pred_len=24)
    batch = data.splits["train"].__getitems__(list(range(0, 4000, 250)))  # 16 windows
    net = model()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        y, lengths = net(batch["inputs"])
        loss = net.head.loss(y, lengths, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert y.shape == (16, 24, 7, 3) and (y.diff(dim=-1) >= 0).all()
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("quantiles, named", [
    ([0.0, 0.5, 0.9], "strictly between 0 and 1"), ([0.1, 0.5, 1.0], "strictly between 0 and 1"),
    ([0.1, 0.5, 0.1, 0.9], "more than once"), ([0.1, 0.9], "must include 0.5"), (0.5, "a list of numbers"),
    (["a", 0.5], "a list of numbers"), ([float("nan"), 0.5], "strictly between 0 and 1")])
def test_bad_quantiles_are_refused(quantiles, named):
    with pytest.raises(SeqkitError) as error:
        build("head", {"name": "forecast", "loss": "quantile", "quantiles": quantiles}, in_dim=8, pred_len=24)
    one_line(error.value, "model.head.quantiles", named)
    Forecast(8, pred_len=24, quantiles=quantiles)  # ignored without the quantile loss


def test_an_unknown_loss_lists_every_loss():
    with pytest.raises(SeqkitError) as error:
        Forecast(8, pred_len=24, loss="pinball")
    one_line(error.value, "model.head.loss", "mse, mae, quantile")


@pytest.mark.parametrize("head", [{"name": "forecast"}, {"name": "forecast", "loss": "quantile"}])
def test_target_channel_is_that_channel_of_the_full_forecast(head):
    torch.manual_seed(0)
    full, one = model(head), model(head, target_channel=4)
    assert (one.head.out_dim, one.head.outputs, one.head.channels) == (1, 1, 7)
    assert (full.head.out_dim, full.head.outputs) == (7, 7)
    one.load_state_dict(full.state_dict())  # the same weights: every channel is still computed
    x = torch.randn(3, 96, 7)
    y_full, y_one = full(x)[0], one(x)[0]
    assert y_one.shape == (3, 24, 1, 3)[: y_full.dim()]
    assert torch.equal(y_one, y_full[:, :, 4:5])


def test_target_channel_without_segments():
    torch.manual_seed(0)
    full = Forecast(8, pred_len=6, channels=3, out_steps=2, norm="last", loss="quantile")
    one = Forecast(8, pred_len=6, channels=3, out_steps=2, norm="last", loss="quantile", target_channel=2)
    one.load_state_dict(full.state_dict())
    args = torch.randn(2, 2, 8), torch.full((2,), 2), torch.randn(2, 10, 3), None
    assert torch.equal(one(*args)[0], full(*args)[0][:, :, 2:])
    with pytest.raises(SeqkitError) as error:
        Forecast(8, pred_len=6, channels=3, target_channel=3)
    one_line(error.value, "target_channel 3", "data.target")


def test_original_scale_uses_the_target_channels_statistics():
    torch.manual_seed(0)
    scaler = {"mean": [10.0 * c for c in range(7)], "std": [1.0 + c for c in range(7)]}
    net = model(target_channel=4).eval()
    x = torch.randn(4, 96, 7)
    with torch.no_grad():
        y, lengths = net(x)
    targets = torch.randn(4, 24, 1)
    head = net.head
    # by hand: column 4 has mean 40 and std 5
    assert torch.allclose(head.original(y, scaler), y * 5 + 40)
    assert torch.allclose(head.original(targets, scaler), targets * 5 + 40)
    assert torch.allclose(head.original(head.point(y), scaler), y[..., 1] * 5 + 40)
    metrics = head.metrics(scaler=scaler)
    assert set(metrics) == {"mse", "mae", "pinball", "coverage_80", "mse_original", "mae_original",
                            "pinball_original", "width_80_original"}
    head.update(metrics, y, lengths, {"targets": targets})
    values = metrics.compute()
    median = y[..., 1]
    assert values["mse"].item() == pytest.approx((median - targets).pow(2).mean().item(), rel=1e-5)
    assert values["mse_original"].item() == pytest.approx(((median - targets) * 5).pow(2).mean().item(), rel=1e-5)
    assert values["mae_original"].item() == pytest.approx(((median - targets) * 5).abs().mean().item(), rel=1e-5)
    assert values["pinball_original"].item() == pytest.approx(
        pinball_loss(y * 5 + 40, targets * 5 + 40, LEVELS).item(), rel=1e-5)
    assert values["width_80_original"].item() == pytest.approx(((y[..., 2] - y[..., 0]) * 5).mean().item(), rel=1e-5)
    inside = ((targets >= y[..., 0]) & (targets <= y[..., 2])).float().mean()
    assert values["coverage_80"].item() == pytest.approx(inside.item())


def test_point_forecast_and_original_of_a_point_head():
    scaler = {"mean": [1.0, 2.0], "std": [2.0, 3.0]}
    head = Forecast(4, pred_len=3, channels=2, target_channel=1)
    y = torch.randn(2, 3, 1)
    assert head.point(y) is y and head.quantiles == []
    assert torch.allclose(head.original(y, scaler), y * 3 + 2)
    metrics = head.metrics(scaler=scaler)
    assert set(metrics) == {"mse", "mae", "mse_original", "mae_original"}
    quantile = Forecast(4, pred_len=3, channels=2, loss="quantile", quantiles=[0.5, 0.25, 0.75, 0.05])
    y = torch.randn(2, 3, 2, 4).sort(-1).values
    assert torch.equal(quantile.point(y), y[..., 2])
    assert torch.allclose(quantile.original(y, scaler)[:, :, 1], y[:, :, 1] * 3 + 2)
    assert set(quantile.metrics()) == {"mse", "mae", "pinball", "coverage_50"}  # 0.05 has no 0.95


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:Exporting a model to ONNX")
def test_a_quantile_forecaster_exports_to_onnx(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    net = model(target_channel=6).eval()
    x = torch.randn(2, 96, 7)
    path = tmp_path / "quantile.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["inputs"], output_names=["y", "lengths"])
    session = onnxruntime.InferenceSession(str(path))
    y = session.run(["y"], {"inputs": x.numpy()})[0]
    assert y.shape == (2, 24, 1, 3)
    assert torch.allclose(torch.from_numpy(y), net(x)[0].detach(), atol=1e-5)
