"""The beam search of a CTC head: spelling only a lexicon's words, with a language model's scores."""

from __future__ import annotations

from pathlib import Path

from seqkit.errors import SeqkitError


def check_beam(beam: int, lm: str | Path | None = None, lexicon: list[str] | None = None, more: str = "") -> None:
    """One-line error unless `beam` is a beam width (1 or more) and, with a language model or a
    lexicon (both work inside the beam search), at least 2; `more` adds another way out.

    Example:
        >>> check_beam(1, lexicon=["zero"])
        Traceback (most recent call last):
        seqkit.errors.SeqkitError: a lexicon works in the beam search: give --beam 2 or more with --lexicon
    """
    if beam < 1:
        raise SeqkitError(f"--beam must be 1 (greedy decoding) or more, got {beam}")
    if beam > 1:
        return
    given = [what for what, value in (("--lm", lm), ("--lexicon", lexicon)) if value is not None]
    if given:
        what = {"--lm": "a language model", "--lexicon": "a lexicon"}
        raise SeqkitError(f"{' and '.join(what[g] for g in given)} work{'s' if len(given) == 1 else ''} in the beam "
                          f"search: give --beam 2 or more with {' and '.join(given)}{more}")


def set_beam_search(head, tokenizer, lexicon: list[str] | None, lm: str | Path | None, lm_weight: float) -> None:
    """Make a CTC head's beam search spell only the words of `lexicon` and fuse the language model
    `lm` (a checkpoint over the same units), each if given."""
    from seqkit.blocks.ctc import Lexicon
    from seqkit.data.tokenizers import unit_texts
    from seqkit.speech.fusion import LanguageModelScorer

    if lm is not None:
        head.fuse(LanguageModelScorer.from_checkpoint(lm, unit_texts(tokenizer), lm_weight))
    if lexicon is not None:
        head.constrain(Lexicon.of(lexicon, tokenizer, "--lexicon"))
