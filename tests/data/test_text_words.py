"""Word-level corpora: the word vocabulary on Penn Treebank, corpora of three files, and variable BPTT."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from seqkit.data.text import TextData, VariableWindows
from seqkit.data.textcorpus import read_text
from seqkit.data.tokenizers import WordTokenizer, tokenizer_from_data
from seqkit.errors import SeqkitError

from helpers import one_line

# Mikolov's PTB as pytorch/examples and AWD-LSTM read it: words plus one <eos> a line.
PTB_TOKENS = {"train": 929_589, "val": 73_760, "test": 82_430}
PTB_FILES = {"train": "ptb.train.txt", "val": "ptb.valid.txt", "test": "ptb.test.txt"}


@pytest.fixture(scope="module")
def ptb(data_root) -> dict[str, str]:
    return {split: read_text(data_root / "ptb" / name) for split, name in PTB_FILES.items()}


@pytest.fixture(scope="module")
def ptb_words(ptb) -> WordTokenizer:
    return WordTokenizer.fit_corpus(ptb["train"])


def write_corpus(folder, texts: dict[str, str], names=("train.txt", "valid.txt", "test.txt")):
    folder.mkdir(exist_ok=True)
    for name, text in zip(names, texts.values()):
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def small_ptb(ptb) -> dict[str, str]:
    """Real PTB lines: 3,000 training, 300 validation and 300 test lines."""
    return {split: "".join(line + "\n" for line in ptb[split].splitlines()[:count])
            for split, count in (("train", 3000), ("val", 300), ("test", 300))}


def test_the_ptb_vocabulary_is_its_10000_training_words_by_frequency_and_the_counts_are_mikolovs(ptb, ptb_words):
    tok = ptb_words
    assert tok.vocab_size == 10_000 and {"<unk>", "<eos>"} <= set(tok.words)
    assert set(tok.words) == set(ptb["train"].split()) | {"<eos>"}  # from the training file only
    eos = tok.index["<eos>"]
    for split, text in ptb.items():
        ids, spans = tok.encode_corpus(text)
        assert len(ids) == PTB_TOKENS[split] and ids.dtype == np.int16
        assert int((ids == eos).sum()) == len(text.splitlines()) == text.count("\n")  # one <eos> a line
        assert tok.unknown_words(text) == []  # PTB's own <unk>: every valid and test word is a training word
        lines = [" ".join(line.split()) + "\n" for line in text.splitlines()]
        assert int(spans.sum()) == sum(map(len, lines))  # the characters of the text, one space between words
        decoded = tok.decode(ids[:2000].tolist())
        assert len(decoded) > 5000 and "".join(lines).startswith(decoded)  # <eos> as a newline
    train_ids = tok.encode_corpus(ptb["train"])[0]
    counts = np.bincount(train_ids, minlength=tok.vocab_size)
    assert np.all(np.diff(counts) <= 0) and counts[-1] >= 1  # descending training frequency
    first = np.unique(train_ids, return_index=True)[1]
    ties = np.flatnonzero(np.diff(counts) == 0)
    assert ties.size and np.all(first[ties] < first[ties + 1])  # equal counts: in order of first appearance
    expected = Counter(ptb["train"].split())
    expected["<eos>"] = ptb["train"].count("\n")
    assert dict(zip(tok.words, counts.tolist())) == dict(expected)  # each unit's id counts its word


def test_an_unseen_word_reads_as_unk_and_the_vocabulary_round_trips_as_plain_data(tmp_path, ptb, ptb_words):
    assert "zebroid" not in ptb_words.index and "market" in ptb_words.index
    ids = ptb_words.encode("the zebroid market\nfell")
    assert ids == [ptb_words.index[w] for w in ("the", "<unk>", "market", "<eos>", "fell")]
    assert ptb_words.decode(ids) == "the <unk> market\nfell" and ptb_words.unknown_words("the zebroid zebroid") == [
        "zebroid"]
    torch.save(ptb_words.to_data(), tmp_path / "vocab.pt")
    again = tokenizer_from_data(torch.load(tmp_path / "vocab.pt", weights_only=True))
    assert again.words == ptb_words.words and (again.unk, again.eos) == ("<unk>", "<eos>")
    assert np.array_equal(again.encode_corpus(ptb["val"])[0], ptb_words.encode_corpus(ptb["val"])[0])
    # An old checkpoint's closed vocabulary (speech) loads as before: an unknown word is an error.
    old = tokenizer_from_data({"kind": "words", "words": ["one", "two"]})
    assert old.encode("two one\none") == [1, 0, 0] and old.to_data() == {"kind": "words", "words": ["one", "two"]}
    with pytest.raises(SeqkitError, match="word 'three' is not in the model's vocabulary"):
        old.encode("one three")
    assert WordTokenizer.fit(["one two", "three one"]).to_data() == {"kind": "words", "words": ["one", "three", "two"]}


def test_text_data_reads_the_ptb_folder_as_three_splits_of_words(data_root, ptb_words):
    data = TextData("ptb", units="words", batch_size=20, bptt=35, eval_batch_size=10)  # under the data root
    assert data.path == data_root / "ptb" and data.files == {s: data_root / "ptb" / n for s, n in PTB_FILES.items()}
    assert data.tokenizer.words == ptb_words.words and data.dims["vocab_size"] == 10_000
    for split, streams in data.streams.items():
        rows = 20 if split == "train" else 10
        assert streams.inputs.shape[0] == rows and streams.tokens == (PTB_TOKENS[split] - 1) // rows * rows
    test = next(iter(data.test_dataloader()))
    assert torch.equal(test["inputs"], data.streams["test"][0]["inputs"])  # the test split, not validation
    assert data.info == {"data_module": "TextData", "tokenizer": ptb_words.to_data()}


def test_a_folder_corpus_of_real_lines_fits_its_vocabulary_on_the_training_file(tmp_path, small_ptb):
    folder = write_corpus(tmp_path / "corpus", small_ptb)
    data = TextData(folder, units="words", batch_size=4, bptt=16, eval_batch_size=1)
    train_words = set(small_ptb["train"].split())
    assert set(data.tokenizer.words) == train_words | {"<eos>", "<unk>"}
    unk = data.tokenizer.index["<unk>"]
    for split, text in small_ptb.items():
        words = text.split()
        ids = data.tokenizer.encode_corpus(text)[0]
        assert len(ids) == len(words) + text.count("\n")
        unknown = sum(w not in train_words or w == "<unk>" for w in words)
        assert int((ids == unk).sum()) == unknown and (split == "train" or unknown > words.count("<unk>"))
        rows = 4 if split == "train" else 1
        assert data.streams[split].tokens == (len(ids) - 1) // rows * rows
    # Characters: the alphabet of the training file only (the validation and test lines that fit it).
    alphabet = set(small_ptb["train"])
    fitting = {split: "".join(line + "\n" for line in text.splitlines() if set(line) <= alphabet)
               for split, text in small_ptb.items()}
    chars = TextData(write_corpus(tmp_path / "chars", fitting), batch_size=4, bptt=16)
    assert set(chars.tokenizer.chars) == alphabet and chars.streams["test"].tokens > 1000
    (tmp_path / "chars" / "valid.txt").write_text(fitting["val"] + "a \u00a7 sign\n")
    with pytest.raises(SeqkitError) as err:
        TextData(tmp_path / "chars", batch_size=4, bptt=16)
    one_line(err.value, tmp_path / "chars" / "valid.txt", "'\u00a7' is not in the model's alphabet")


def test_three_named_files_read_as_the_folder_does_and_without_a_test_file_there_is_no_test_split(tmp_path,
                                                                                                  small_ptb):
    folder = write_corpus(tmp_path / "corpus", small_ptb, ("a.txt", "b.txt", "c.txt"))
    named = TextData(train=folder / "a.txt", val=folder / "b.txt", test=folder / "c.txt", units="words",
                     batch_size=4, bptt=16)
    same = TextData(write_corpus(tmp_path / "ptbish", small_ptb, ("x.train.txt", "x.valid.txt", "x.test.txt")),
                    units="words", batch_size=4, bptt=16)
    assert named.path == folder / "a.txt" and same.tokenizer.words == named.tokenizer.words
    saved = TextData(train=folder / "a.txt", val=folder / "b.txt", units="words", batch_size=4, bptt=16,
                     min_count=10**9, tokenizer=named.info["tokenizer"])  # a checkpoint's: nothing refitted
    assert saved.tokenizer.words == named.tokenizer.words
    for split in ("train", "val", "test"):
        assert np.array_equal(named.streams[split].inputs, same.streams[split].inputs)
    two = TextData(train="ptb/ptb.train.txt", val="ptb/ptb.valid.txt", units="words", batch_size=4, bptt=16)
    assert set(two.streams) == set(two.texts) == {"train", "val"}  # relative to the data root
    assert torch.equal(next(iter(two.test_dataloader()))["inputs"], two.streams["val"][0]["inputs"])


@pytest.mark.parametrize("layout, names", [
    ({"train.txt": "t", "valid.txt": "v"}, ["no test.txt (or <name>.test.txt);"]),
    ({"ptb.train.txt": "t"}, ["no valid.txt (or <name>.valid.txt) and no test.txt (or <name>.test.txt);"]),
    ({"train.txt": "t", "ptb.train.txt": "t", "valid.txt": "v", "test.txt": "w"}, ["(ptb.train.txt, train.txt)"]),
])
def test_a_folder_missing_a_file_or_with_two_for_one_split_is_a_one_line_error_naming_them(tmp_path, layout, names):
    for name, text in layout.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SeqkitError) as err:
        TextData(tmp_path, units="words", batch_size=1, bptt=1)
    one_line(err.value, tmp_path, *names)


def test_an_empty_split_and_vocabulary_settings_that_leave_no_word_are_one_line_errors(tmp_path, small_ptb):
    folder = write_corpus(tmp_path / "corpus", {**small_ptb, "val": " \n\t\n\n"})
    with pytest.raises(SeqkitError) as err:
        TextData(folder, units="words", batch_size=4, bptt=16)
    one_line(err.value, folder / "valid.txt", "only whitespace")
    folder = write_corpus(tmp_path / "good", small_ptb)
    counts = Counter(small_ptb["train"].split())
    top = max(n for w, n in counts.items() if w != "<unk>")
    for settings, named in [({"min_count": top + 1}, "data.min_count"), ({"max_size": 2}, "data.max_size"),
                            ({"min_count": 0}, "data.min_count"), ({"max_size": 0}, "data.max_size"),
                            ({"max_size": -5}, "data.max_size")]:
        with pytest.raises(SeqkitError) as err:
            TextData(folder, units="words", batch_size=4, bptt=16, **settings)
        one_line(err.value, named)
    data = TextData(folder, units="words", batch_size=4, bptt=16, min_count=top, max_size=None)
    assert set(data.tokenizer.words) - {"<unk>", "<eos>"} == {w for w, n in counts.items() if n >= top} - {"<unk>"}
    capped = TextData(folder, units="words", batch_size=4, bptt=16, max_size=50).tokenizer
    kept = set(capped.words) - {"<unk>", "<eos>"}
    assert capped.vocab_size == 50 and min(counts[w] for w in kept) >= max(  # the most frequent words
        n for w, n in counts.items() if w not in kept | {"<unk>"})
    with pytest.raises(SeqkitError) as err:
        TextData(val=folder / "valid.txt", units="words")
    one_line(err.value, "data.train")


def windows_of(loader) -> list[int]:
    return [batch["inputs"].shape[1] for batch in loader]


def test_variable_bptt_reads_every_token_once_in_windows_decided_by_seed_and_epoch_and_resumes_exactly(
        tmp_path, small_ptb):
    folder = write_corpus(tmp_path / "corpus", small_ptb)

    def epoch(epoch: int, seed: int = 3, resume_at: int | None = None) -> list[dict]:
        data = TextData(folder, units="words", batch_size=4, bptt=30, variable_bptt=True, seed=seed)
        if resume_at is not None:
            data.load_state_dict({"epoch": epoch, "batches": resume_at})
        loader = data.train_dataloader()
        loader.sampler.set_epoch(epoch)  # as Lightning does before every epoch
        assert len(loader) == len(data.streams["train"])
        return list(loader)

    first = epoch(0)
    streams = TextData(folder, units="words", batch_size=4, bptt=30).streams["train"]
    lengths = [b["inputs"].shape[1] for b in first]
    assert len(first) == len(streams) and len(set(lengths)) > 3 and min(lengths) >= 1
    assert sum(lengths) == streams.steps  # every training token read exactly once, in order
    assert np.array_equal(torch.cat([b["inputs"] for b in first], 1).numpy(), streams.inputs)
    assert np.array_equal(torch.cat([b["targets"] for b in first], 1).numpy(), streams.targets)
    assert sum(b["chars"] for b in first) == int(streams.spans.sum())
    again, later, other = epoch(0), epoch(1), epoch(0, seed=4)
    assert [b["inputs"].shape[1] for b in again] == lengths and len(later) == len(first)
    assert [b["inputs"].shape[1] for b in later] != lengths and [b["inputs"].shape[1] for b in other] != lengths
    resumed = epoch(1, resume_at=7)
    assert len(resumed) == len(later) - 7
    for a, b in zip(resumed, later[7:]):
        assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["targets"], b["targets"])
    fixed = TextData(folder, units="words", batch_size=4, bptt=30, variable_bptt=True)
    assert set(windows_of(fixed.val_dataloader())[:-1]) == {30}  # validation windows stay fixed
    assert set(windows_of(TextData(folder, units="words", batch_size=4, bptt=30).train_dataloader())[:-1]) == {30}


def test_variable_windows_follow_awd_lstms_lengths():
    windows = VariableWindows(steps=70 * 20_000 - 33, count=20_000, bptt=70, seed=0)
    lengths = np.diff(windows.cuts())
    assert lengths.sum() == windows.steps and lengths.min() >= 1
    assert 0.03 < np.mean(lengths < 50) < 0.07  # about 5% around bptt / 2
    assert abs(np.median(lengths) - 70 * windows.steps / 20_000 / (0.95 * 70 + 0.05 * 35)) < 1.5
    assert lengths.max() <= (70 + 15) * 1.05 and np.std(lengths[lengths > 50]) == pytest.approx(5, rel=0.1)
