"""Language modelling: TBPTT streams, carried state, tied weights, bits per character, sampling,
a smoke run of recipes/lm on Tiny Shakespeare, `seqkit generate`, and bad text files."""

from __future__ import annotations

import json
import math

import pytest
import torch

import seqkit as sk
from seqkit.blocks import build
from seqkit.blocks.softmax import Softmax, TokenScores
from seqkit.data.text import Streams, TextData, read_text
from seqkit.data.tokenizers import CharTokenizer, PieceTokenizer
from seqkit.errors import SeqkitError
from seqkit.model import build_model
from seqkit.sampling import generate, sample, top_k_filter
from tests.conftest import ROOT

LM_SPEC = {"frontend": {"name": "embedding", "dim": 16},
           "backend": {"name": "lstm", "hidden": 24, "layers": 2, "stateful": True},
           "head": {"name": "softmax"}}


@pytest.fixture(scope="module")
def shakespeare(data_root) -> str:
    return read_text(data_root / "tinyshakespeare" / "input.txt")


@pytest.fixture(scope="module")
def char_ids(shakespeare) -> tuple[CharTokenizer, list[int]]:
    tokenizer = CharTokenizer.fit([shakespeare])
    return tokenizer, tokenizer.encode(shakespeare[:20_000])


def test_streams_targets_are_the_inputs_shifted_and_each_batch_continues_the_last(char_ids):
    _, ids = char_ids
    streams = Streams(ids, batch_size=8, bptt=50)
    per_stream = (len(ids) - 1) // 8
    batches = [streams[k] for k in range(len(streams))]
    inputs = torch.cat([b["inputs"] for b in batches], dim=1)  # every batch, side by side
    targets = torch.cat([b["targets"] for b in batches], dim=1)
    for row in range(8):
        start = row * per_stream
        assert inputs[row].tolist() == ids[start:start + per_stream]  # one contiguous stream
        assert targets[row].tolist() == ids[start + 1:start + per_stream + 1]
    for k in range(len(batches) - 1):  # the target after batch k's last input is batch k+1's first input
        assert torch.equal(batches[k]["targets"][:, -1], batches[k + 1]["inputs"][:, 0])
    assert sum(b["chars"] for b in batches) == streams.tokens == 8 * per_stream


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_carried_state_equals_running_the_concatenated_sequence(char_ids, cell):
    _, ids = char_ids
    torch.manual_seed(0)
    spec = {**LM_SPEC, "backend": {**LM_SPEC["backend"], "name": cell}}
    model = build_model(spec, vocab_size=65, in_dim=65).double().eval()
    streams = Streams(ids[:2001], batch_size=4, bptt=40)
    with torch.no_grad():
        pieces = [model(streams[k]["inputs"])[0] for k in range(3)]  # state carried batch to batch
        carried = model.carried_state
        model.reset_state()
        whole = model(torch.cat([streams[k]["inputs"] for k in range(3)], dim=1))[0]
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-10)
    assert torch.allclose(_top(carried), _top(model.carried_state), atol=1e-10)
    assert not _top(carried).requires_grad  # detached: backpropagation stops at the batch boundary


def _top(state):
    last = state[-1]
    return last[0] if isinstance(last, tuple) else last


def test_task_starts_each_epoch_and_validation_with_a_fresh_state():
    from seqkit.task import Task

    model = build_model(LM_SPEC, vocab_size=65, in_dim=65)
    task = Task(model)
    model(torch.randint(0, 65, (4, 10)))
    training_state = model.carried_state
    task.on_validation_epoch_start()
    assert model.carried_state is None
    model(torch.randint(0, 65, (4, 10)))
    task.on_validation_epoch_end()
    assert model.carried_state is training_state  # validation did not disturb the training streams
    task.on_train_epoch_start()
    assert model.carried_state is None


def test_stateful_bidirectional_is_refused():
    with pytest.raises(SeqkitError, match="stateful back-end cannot be bidirectional"):
        build("backend", {"name": "gru", "stateful": True, "bidirectional": True}, in_dim=8)


def test_tied_weights_share_one_tensor_and_stay_shared_through_training_and_checkpoints(tmp_path):
    model = build_model(LM_SPEC, vocab_size=65, in_dim=65)
    table = model.frontend.embedding.weight
    assert model.head.weight is table and model.head.tied
    assert isinstance(model.head.project, torch.nn.Linear)  # LSTM 24 wide, embedding 16: projected
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    logits, lengths = model(torch.randint(0, 65, (2, 12)))
    model.head.loss(logits, lengths, {"targets": torch.randint(0, 65, (2, 12))}).backward()
    optimizer.step()
    assert model.head.weight.data_ptr() == table.data_ptr()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["head.weight"].data_ptr() == state["frontend.embedding.weight"].data_ptr()
    untied = build_model({**LM_SPEC, "head": {"name": "softmax", "tie": False}}, vocab_size=65, in_dim=65)
    assert untied.head.weight is not untied.frontend.embedding.weight and not untied.head.tied
    same_size = build_model({**LM_SPEC, "backend": {"name": "gru", "hidden": 16}}, vocab_size=65, in_dim=65)
    assert isinstance(same_size.head.project, torch.nn.Identity) and same_size.head.tied


def test_sentencepiece_spans_cover_the_text_exactly_and_bits_per_character_convert_exactly(shakespeare):
    text = shakespeare[:3000] + "\nÆsop's ½ fable ~ \n"  # characters the training part never saw
    tokenizer = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    ids, spans = tokenizer.encode_spans(text)
    assert tokenizer.decode(ids).replace(" \u2047 ", "?") != text  # unknown pieces do not decode back...
    assert sum(spans) == len(text) and all(s >= 1 for s in spans)  # ...but every character is counted once
    assert len(ids) < len(text)
    streams = Streams(ids, batch_size=1, bptt=64, spans=spans)
    covered = len(text) - spans[0]  # every character after the first token's is a target's
    assert sum(streams[k]["chars"] for k in range(len(streams))) == covered
    torch.manual_seed(0)
    head = Softmax(in_dim=8, vocab_size=tokenizer.vocab_size)
    scores = TokenScores()
    total = 0.0
    with torch.no_grad():
        for k in range(len(streams)):
            batch = streams[k]
            logits, lengths = head(torch.randn(1, batch["inputs"].shape[1], 8), batch["input_lengths"])
            head.update(scores, logits, lengths, batch)
            total += float(torch.nn.functional.cross_entropy(logits[0].double(), batch["targets"][0],
                                                             reduction="sum"))
    result = scores.compute()  # the counts are exact; the sums of float32 losses agree to float32 precision
    assert float(result["bpc"]) == pytest.approx(total / covered / math.log(2), rel=1e-6)
    assert float(result["loss"]) == pytest.approx(total / streams.tokens, rel=1e-6)
    assert float(result["perplexity"]) == pytest.approx(math.exp(total / streams.tokens), rel=1e-6)


def test_top_k_leaves_exactly_k_tokens():
    torch.manual_seed(0)
    logits = torch.randn(5, 65)
    kept = top_k_filter(logits, 7)
    assert (torch.isfinite(kept).sum(-1) == 7).all()
    assert torch.equal(kept.topk(7).indices.sort().values, logits.topk(7).indices.sort().values)
    generator = torch.Generator().manual_seed(0)
    draws = {int(sample(logits[0], 1.0, 3, generator)) for _ in range(300)}
    assert draws <= set(logits[0].topk(3).indices.tolist()) and len(draws) > 1


def test_temperature_towards_zero_is_greedy_and_the_seed_fixes_the_text(char_ids):
    tokenizer, _ = char_ids
    torch.manual_seed(0)
    model = build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size)
    greedy = "".join(generate(model, tokenizer, "ROMEO:", 60, temperature=0.0))
    cold = "".join(generate(model, tokenizer, "ROMEO:", 60, temperature=1e-4, seed=3))
    assert cold == greedy and len(greedy) == 60
    # Stepping with the carried state gives what re-reading the whole text gives.
    ids = tokenizer.encode("ROMEO:" + greedy)
    with torch.no_grad():
        model.reset_state()
        logits, _ = model(torch.tensor([ids[:-1]]))
    assert logits[0, 5:].argmax(-1).tolist() == ids[6:]
    first = "".join(generate(model, tokenizer, "ROMEO:", 80, temperature=1.0, top_k=20, seed=1))
    again = "".join(generate(model, tokenizer, "ROMEO:", 80, temperature=1.0, top_k=20, seed=1))
    other = "".join(generate(model, tokenizer, "ROMEO:", 80, temperature=1.0, top_k=20, seed=2))
    assert first == again and first != other


def test_prompt_outside_the_alphabet_is_a_clear_error_for_characters_only(char_ids, shakespeare):
    tokenizer, _ = char_ids
    model = build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size)
    with pytest.raises(SeqkitError, match="character '€' is not in the model's alphabet"):
        next(generate(model, tokenizer, "ROMEO €", 5))
    pieces = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    model = build_model(LM_SPEC, vocab_size=pieces.vocab_size, in_dim=pieces.vocab_size)
    assert len("".join(generate(model, pieces, "ROMEO €", 5, seed=0))) > 0  # € becomes the unknown piece


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory, data_root):
    """One debug run of recipes/lm (a small model, a few steps), shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("lm") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        sk.run_recipe(ROOT / "recipes/lm", [f"run_dir={run_dir}", "model.backend.hidden=64",
                                            "model.frontend.dim=64", "sample.length=40"],
                      [ROOT / "configs/debug.yaml"])
    return run_dir


def test_recipe_smoke_run_writes_every_file(lm_run):
    for name in ["config.yaml", "metrics.json", "train.log", "loss.png", "samples.txt",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt"]:
        assert (lm_run / name).is_file(), name
    metrics = json.loads((lm_run / "metrics.json").read_text())
    val = metrics["val"]
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]), rel=1e-6)
    assert val["bpc"] == pytest.approx(val["loss"] / math.log(2), rel=1e-6)  # characters: one token each
    assert 1.0 < val["loss"] < math.log(65) + 1  # a few steps of training on 65 characters
    assert metrics["data"]["characters"] == {"train": 1003854, "val": 111540}  # nanoGPT's split
    assert (lm_run / "samples.txt").read_text().startswith("ROMEO:")


def test_generate_from_the_checkpoint_is_reproducible(lm_run, cli):
    first = cli("generate", lm_run, "--prompt", "ROMEO:", "--length", "50", "--temperature", "0.8",
                "--top-k", "40", "--seed", "1")
    again = cli("generate", lm_run / "checkpoints/best.ckpt", "--prompt", "ROMEO:", "--length", "50",
                "--temperature", "0.8", "--top-k", "40", "--seed", "1")
    assert first.code == 0, first.err
    assert first.out == again.out and first.out.startswith("ROMEO:") and len(first.out) == len("ROMEO:") + 51
    bad = cli("generate", lm_run, "--prompt", "ROMEO €")
    assert bad.code == 2 and bad.err.startswith("error: character '€' is not in the model's alphabet")


def test_eval_recomputes_the_validation_scores(lm_run, cli):
    result = cli("eval", lm_run)
    assert result.code == 0, result.err
    scores = json.loads(result.out)
    metrics = json.loads((lm_run / "metrics.json").read_text())
    assert scores["loss"] == pytest.approx(metrics["val"]["loss"], rel=1e-5)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"To be, or not to be\xff\xfe that is", "not UTF-8 text: byte 0xff at byte offset 19"),
    (b"ROMEO: short text\n" * 3, "shorter than one batch"),
])
def test_bad_text_files_get_one_line_errors(tmp_path, cli, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    result = cli("run", "lm", f"data.path={path}", "-c", "configs/debug.yaml", f"run_dir={tmp_path / 'run'}")
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert str(path) in result.err
    assert not (tmp_path / "run").exists()


def test_text_data_uses_nanogpt_split_and_a_tokenizer_trained_on_training_text_only(data_root):
    data = TextData(data_root / "tinyshakespeare/input.txt", units="sentencepiece", vocab_size=300,
                    batch_size=16, bptt=64)
    assert len(data.texts["train"]) == int(len(data.texts["train"] + data.texts["val"]) * 0.9)
    assert data.dims == {"in_dim": data.tokenizer.vocab_size, "vocab_size": data.tokenizer.vocab_size}
    assert data.tokenizer.decode(data.tokenizer.encode(data.texts["val"][:500])) == data.texts["val"][:500]


def test_a_checkpoints_tokenizer_is_used_instead_of_fitting_one(data_root, shakespeare):
    pieces = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    data = TextData(data_root / "tinyshakespeare/input.txt", units="sentencepiece", vocab_size=999,
                    batch_size=16, bptt=64, tokenizer=pieces.to_data())
    assert data.tokenizer.model == pieces.model and data.dims["vocab_size"] == pieces.vocab_size
