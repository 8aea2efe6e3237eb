"""`seqkit generate`'s options as a new user gives them: bad settings, no prompt, the help, the line end."""

from __future__ import annotations

import math

import pytest
import torch

from seqkit.data.tokenizers import CharTokenizer, PieceTokenizer
from seqkit.errors import SeqkitError
from seqkit.model import build_model
from seqkit.sampling import generate, generate_from_checkpoint, sample, top_k_filter

from helpers import LM_SPEC, ROOT, one_line, one_line_error, run_cli

BAD_SETTINGS = [({"top_k": -5}, "--top-k", "-5"), ({"top_k": -1}, "--top-k", "-1"),
                ({"temperature": math.nan}, "--temperature", "nan"),
                ({"temperature": math.inf}, "--temperature", "inf"),
                ({"temperature": -math.inf}, "--temperature", "-inf"),
                ({"temperature": -0.5}, "--temperature", "-0.5")]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory, data_root):
    """A debug run of recipes/lm (a character model of Tiny Shakespeare, a few steps)."""
    run_dir = tmp_path_factory.mktemp("generate") / "lm"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA", str(data_root))
        result = run_cli("run", ROOT / "recipes/lm", "-c", ROOT / "configs/debug.yaml", "model.backend.hidden=32",
                         "model.frontend.dim=32", "sample.length=10", f"run_dir={run_dir}")
    assert result.code == 0, result.err
    return run_dir


@pytest.fixture(scope="module")
def char_model(char_ids):
    tokenizer, _ = char_ids
    torch.manual_seed(0)
    return build_model(LM_SPEC, vocab_size=tokenizer.vocab_size, in_dim=tokenizer.vocab_size), tokenizer


@pytest.mark.parametrize("settings, option, value", BAD_SETTINGS)
def test_the_library_refuses_negative_and_non_finite_settings_in_one_line(char_model, settings, option, value):
    model, tokenizer = char_model
    with pytest.raises(SeqkitError) as err:
        next(generate(model, tokenizer, "ROMEO:", 5, **settings))
    one_line(err.value, option, f"got {value}")
    with pytest.raises(SeqkitError) as err:  # the sampling step itself too
        sample(torch.zeros(65), **{"temperature": 1.0, **settings})
    one_line(err.value, option)
    if "top_k" in settings:
        with pytest.raises(SeqkitError):
            top_k_filter(torch.zeros(65), settings["top_k"])


def test_the_settings_are_checked_when_generate_is_called(char_model):
    model, tokenizer = char_model
    with pytest.raises(SeqkitError, match="--top-k"):
        generate(model, tokenizer, "ROMEO:", 5, top_k=-5)  # before the first piece is asked for


@pytest.mark.parametrize("args, option, value", [(["--top-k", "-5"], "--top-k", "-5"),
                                                 (["--temperature", "nan"], "--temperature", "nan"),
                                                 (["--temperature", "inf"], "--temperature", "inf"),
                                                 (["--temperature", "-1"], "--temperature", "-1")])
def test_the_command_refuses_them_with_status_2(lm_dir, args, option, value):
    result = run_cli("generate", lm_dir, "--length", "5", *args)
    assert result.code == 2 and result.out == ""
    one_line_error(result.code, result.err, option, value)


def test_without_a_prompt_or_with_an_empty_one_the_text_starts_at_a_line_start(char_model, lm_dir):
    model, tokenizer = char_model
    after_newline = "".join(generate(model, tokenizer, "\n", 30, seed=4))
    assert "".join(generate(model, tokenizer, "", 30, seed=4)) == after_newline
    assert "".join(generate(model, tokenizer, None, 30, seed=4)) == after_newline
    assert "".join(generate_from_checkpoint(lm_dir, "", length=20, seed=3)) == \
        "".join(generate_from_checkpoint(lm_dir, "\n", length=20, seed=3))
    empty = run_cli("generate", lm_dir, "--prompt", "", "--length", "20", "--seed", "3")
    none = run_cli("generate", lm_dir, "--length", "20", "--seed", "3")
    assert empty.code == 0 and none.code == 0, (empty.err, none.err)
    assert empty.out == none.out  # the continuation only: the line start is not printed
    assert empty.out.rstrip("\n") == "".join(generate_from_checkpoint(lm_dir, "\n", length=20, seed=3)).rstrip("\n")


def test_the_line_start_is_what_the_units_can_start_from(shakespeare):
    from seqkit.data.tokenizers import line_start

    assert line_start(CharTokenizer.fit([shakespeare])) == "\n"
    assert line_start(CharTokenizer("ab cd")) == " "  # a corpus of one line: a word's start
    pieces = PieceTokenizer.fit(shakespeare[:3000].splitlines(), vocab_size=120, exact=True)
    assert line_start(pieces) == "\n"
    model = build_model(LM_SPEC, vocab_size=pieces.vocab_size, in_dim=pieces.vocab_size)
    assert len("".join(generate(model, pieces, "", 5, seed=0))) > 0
    dna = CharTokenizer("ACGT")  # no newline or space to start from: the prompt is needed
    model = build_model(LM_SPEC, vocab_size=4, in_dim=4)
    with pytest.raises(SeqkitError) as err:
        generate(model, dna, "", 5)
    one_line(err.value, "--prompt")
    assert len("".join(generate(model, dna, "ACG", 5, seed=0))) == 5


def test_the_help_shows_what_the_default_prompt_does():
    result = run_cli("generate", "--help")
    assert result.code == 0
    options = " ".join(result.out.replace("\u2502", " ").split())  # the table's rows, without its borders
    prompt = options.rsplit("--prompt", 1)[1].split("--length", 1)[0]  # the option's row, not the example
    assert "line start" in prompt and "[default:" not in prompt, prompt


def test_the_printed_text_ends_with_one_line_end(lm_dir):
    plain = run_cli("generate", lm_dir, "--prompt", "ROMEO:", "--length", "30", "--seed", "1")
    assert plain.code == 0 and plain.out.startswith("ROMEO:") and plain.out.endswith("\n"), plain.err
    # A length at which the sampled text (one character a token) itself ends with a newline: no blank line after it.
    for seed in range(1, 20):
        text = "".join(generate_from_checkpoint(lm_dir, "ROMEO:", length=200, seed=seed))
        if "\n" in text:
            break
    cut = text.index("\n") + 1
    result = run_cli("generate", lm_dir, "--prompt", "ROMEO:", "--length", cut, "--seed", seed)
    assert result.code == 0, result.err
    assert result.out == "ROMEO:" + text[:cut]
